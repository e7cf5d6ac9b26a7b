import Logging
import NIOCore
import NIOPosix
import SluiceHTTP
import SluiceMedia
import Synchronization

/// Sent through every connection's pipeline when the server stops: plays are ended
/// with Play.Stop and the connection is closed.
public struct RTMPServerStopping: Sendable {}

/// The thin I/O shell around one connection: it feeds bytes to the handshake, the chunk
/// decoder and the session, performs their actions, and drives playback from timers and
/// socket writability.
final class RTMPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        case handshake(ServerHandshake)
        case chunks
        case closing
    }

    private let configuration: RTMPServerConfiguration
    private let resolver: MediaResolver
    private let threadPool: NIOThreadPool
    private var logger: Logger
    private let limitLog: LimitLog
    private let onClose: @Sendable () -> Void
    /// Called once, when the handshake completes or the connection closes before it does.
    private var onHandshakeEnded: (@Sendable () -> Void)?

    private var phase: Phase = .handshake(ServerHandshake(epochMilliseconds: { UInt32(truncatingIfNeeded: NIODeadline.now().uptimeNanoseconds / 1_000_000) }))
    private var decoder: ChunkDecoder
    private var encoder = ChunkEncoder()
    private var session: RTMPSession
    private var context: ChannelHandlerContext!
    private var output = ByteBuffer()

    private var playbacks: [UInt32: VODPlayback] = [:]
    /// Items queued with `play(name, start, len, false)`, per stream, after the playing one.
    private var playlists: [UInt32: [RTMPSession.PlayRequest]] = [:]
    /// Buffer lengths announced before the stream started playing.
    private var bufferLengths: [UInt32: UInt32] = [:]
    /// While a file opens on the thread pool, later messages wait so they apply in order.
    private var waitingForOpen = false
    private var wakeTask: Scheduled<Void>?
    private var wakeAt: UInt64 = .max
    private var driveScheduled = false
    private var housekeeping: RepeatedTask?
    private var lastInbound: UInt64 = 0
    private var connectedAt: UInt64 = 0

    /// The most a connection's input may hold undecoded or unfinished.
    private var inputLimit: Int { configuration.decoderLimits.maximumBufferedBytes + configuration.decoderLimits.maximumChunkSize }

    /// Handlers alive in this process: once their connections close, this comes back down
    /// (a handler kept by a reference cycle is memory kept for good).
    static let alive = Atomic<Int>(0)

    deinit {
        Self.alive.subtract(1, ordering: .relaxed)
    }

    /// Bytes written per pump before the output is handed to the socket.
    static let writeBatch = 32 * 1024
    /// Items one stream's playlist may queue: far more than a player uses, and a bound
    /// on what a client can make the server hold.
    static let maximumPlaylistItems = 256

    init(configuration: RTMPServerConfiguration, resolver: MediaResolver, router: any ConnectRouter,
         threadPool: NIOThreadPool, logger: Logger, limitLog: LimitLog, clientID: String,
         onHandshakeEnded: @escaping @Sendable () -> Void, onClose: @escaping @Sendable () -> Void) {
        self.configuration = configuration
        self.resolver = resolver
        self.threadPool = threadPool
        self.logger = logger
        self.limitLog = limitLog
        self.onHandshakeEnded = onHandshakeEnded
        self.onClose = onClose
        self.decoder = ChunkDecoder(limits: configuration.decoderLimits)
        self.session = RTMPSession(configuration: configuration.session, router: router, clientID: clientID)
        Self.alive.add(1, ordering: .relaxed)
    }

    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds / 1_000_000 }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// The context holds this handler: keeping it past removal would keep both, and every
    /// connection's memory, alive for good.
    func handlerRemoved(context: ChannelHandlerContext) {
        phase = .closing
        housekeeping?.cancel()
        wakeTask?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        lastInbound = Self.now()
        connectedAt = lastInbound
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let period = TimeAmount.milliseconds(Int64(min(configuration.pingInterval, configuration.handshakeTimeout, 5) * 1000))
        housekeeping = context.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            bound.value.checkTimeouts()
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        housekeeping?.cancel()
        wakeTask?.cancel()
        for playback in playbacks.values where !playback.isFinished {
            logger.info("play ended by disconnect", metadata: ["stream": "\(playback.name)", "bytes": "\(playback.bytesSent)"])
        }
        playbacks.removeAll()
        logger.debug("connection closed")
        endHandshake()
        onClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.info("connection error: \(error)")
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is RTMPServerStopping {
            for playback in playbacks.values where !playback.isFinished {
                encoder.write(session.onStatus(streamID: playback.streamID, FMS.status(
                    "NetStream.Play.Stop", description: "Server shutting down; stopped playing \(playback.name).")), into: &output)
            }
            closeAfterFlush(reason: "server shutting down")
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func checkTimeouts() {
        let now = Self.now()
        let silence = Double(now - lastInbound) / 1000
        switch phase {
        case .handshake:
            if Double(now - connectedAt) / 1000 > configuration.handshakeTimeout {
                fail("handshake not completed in \(configuration.handshakeTimeout) s")
            }
        case .chunks:
            if session.state == .awaitingConnect, Double(now - connectedAt) / 1000 > configuration.handshakeTimeout * 2 {
                fail("no connect command in time")
            } else if silence > configuration.idleTimeout {
                fail("idle for \(Int(silence)) s")
            } else if silence > configuration.pingInterval {
                encoder.write(ProtocolControl.userControl(.pingRequest(timestamp: UInt32(truncatingIfNeeded: now))), into: &output)
                flushOutput()
            }
        case .closing:
            break
        }
    }

    private func endHandshake() {
        onHandshakeEnded?()
        onHandshakeEnded = nil
    }

    /// Closes the connection for breaking a limit or the protocol: one log line, rate
    /// limited across connections, since a hostile client can make many.
    private func fail(_ reason: String) {
        guard case .closing = phase else {
            limitLog.closed("RTMP connection from \(context.channel.remoteAddress?.ipAddress ?? "?")", reason: reason)
            logger.debug("closing connection: \(reason)")
            phase = .closing
            context.close(promise: nil)
            return
        }
    }

    private func closeAfterFlush(reason: String) {
        if case .closing = phase { return }
        logger.info("closing connection: \(reason)")
        phase = .closing
        let out = output
        output.clear()
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { [context] _ in
            context!.close(promise: nil)
        }
    }

    // MARK: Input

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        lastInbound = Self.now()
        switch phase {
        case .handshake(var handshake):
            do {
                let action = try handshake.feed(bytes)
                switch action {
                case .needMoreData:
                    phase = .handshake(handshake)
                case .send(let reply):
                    phase = .handshake(handshake)
                    var buffer = context.channel.allocator.buffer(capacity: reply.count)
                    buffer.writeBytes(reply)
                    context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
                    logger.trace("handshake: \(handshake.kind)")
                case .complete(let leftover):
                    logger.debug("handshake complete (\(handshake.kind))")
                    endHandshake()
                    phase = .chunks
                    decoder.feed(leftover)
                    processMessages()
                }
            } catch {
                fail("\(error)")
            }
        case .chunks:
            decoder.feed(bytes)
            // While a file opens, messages wait undecoded: bound what a client can pile up.
            if waitingForOpen, decoder.bufferedBytes > inputLimit {
                fail("more than \(inputLimit) bytes sent while a play was opening")
                return
            }
            processMessages()
        case .closing:
            break
        }
    }

    private func processMessages() {
        while !waitingForOpen, case .chunks = phase {
            let message: RTMPMessage?
            do {
                message = try decoder.nextMessage()
            } catch {
                fail("protocol error: \(error)")
                return
            }
            guard let message else { break }
            do {
                perform(try session.handle(message))
            } catch {
                fail("protocol error: \(error)")
                return
            }
        }
        perform(session.acknowledgements(totalReceived: decoder.bytesReceived))
        flushOutput()
    }

    // MARK: Actions

    private func perform(_ actions: [RTMPSession.Action]) {
        for action in actions {
            switch action {
            case .send(let message):
                encoder.write(message, into: &output)
            case .setOutgoingChunkSize(let size):
                // Sent only on a successful connect: from now on log lines name the app.
                encoder.setChunkSize(size)
                if let request = session.connectRequest {
                    logger[metadataKey: "app"] = "\(request.app)"
                    logger.info("connected", metadata: ["tcUrl": "\(request.tcUrl ?? "")", "flashVer": "\(request.flashVersion ?? "")"])
                }
            case .close(let reason):
                closeAfterFlush(reason: reason)
            case .play(let request):
                startPlay(request)
            case .seek(let streamID, let milliseconds):
                guard let playback = playbacks[streamID] else {
                    encoder.write(session.onStatus(streamID: streamID, FMS.status("NetStream.Seek.Failed", level: "error", description: "Seek failed: nothing is playing.")), into: &output)
                    continue
                }
                do {
                    try playback.seek(to: milliseconds, now: Self.now(), encoder: &encoder, into: &output)
                    logger.debug("seek", metadata: ["stream": "\(playback.name)", "to": "\(milliseconds)"])
                    scheduleDrive()
                } catch {
                    stopPlayback(streamID, reason: "read error while seeking: \(error)")
                }
            case .pause(let streamID, let paused, let milliseconds):
                guard let playback = playbacks[streamID] else { continue }
                playback.pause(paused, at: milliseconds, now: Self.now(), encoder: &encoder, into: &output)
                if !paused { scheduleDrive() }
            case .stop(let streamID):
                playlists[streamID] = nil
                if !session.hasStream(streamID) { bufferLengths[streamID] = nil }  // deleted
                if let playback = playbacks.removeValue(forKey: streamID) {
                    logger.info("play stopped by client", metadata: ["stream": "\(playback.name)", "bytes": "\(playback.bytesSent)"])
                }
            case .receive(let streamID, let audio, let video):
                playbacks[streamID]?.receive(audio: audio, video: video)
            case .setBufferLength(let streamID, let milliseconds):
                bufferLengths[streamID] = milliseconds
                playbacks[streamID]?.setBufferLength(milliseconds)
                scheduleDrive()
            case .streamLength(let transactionID, let name):
                streamLength(transactionID: transactionID, name: name)
            }
        }
    }

    private func stopPlayback(_ streamID: UInt32, reason: String) {
        guard let playback = playbacks.removeValue(forKey: streamID) else { return }
        logger.warning("play failed", metadata: ["stream": "\(playback.name)", "reason": "\(reason)"])
        encoder.write(session.onStatus(streamID: streamID, FMS.status("NetStream.Play.Failed", level: "error", description: "Playback failed: \(reason)")), into: &output)
    }

    /// Opens media for `name`: here when its index is cached, else on the thread pool
    /// (a first open scans the file), holding back later messages until it is done.
    private func openMedia(_ name: String, then body: @escaping (Result<ReaderBox, MediaResolver.Failure>) -> Void) {
        guard let route = session.route else { return }
        let resolver = self.resolver
        if let opened = resolver.open(name, route: route, onlyIfIndexed: true) {
            body(opened)
            return
        }
        waitingForOpen = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let callback = NIOLoopBound(body, eventLoop: context.eventLoop)
        threadPool.runIfActive(eventLoop: context.eventLoop) {
            resolver.open(name, route: route)
        }.whenComplete { result in
            let handler = bound.value
            handler.waitingForOpen = false
            guard case .chunks = handler.phase else { return }
            switch result {
            case .success(let opened?): callback.value(opened)
            case .success(nil), .failure: callback.value(.failure(.notFound))
            }
            handler.processMessages()
        }
    }

    private func startPlay(_ request: RTMPSession.PlayRequest) {
        if !request.reset, let current = playbacks[request.streamID], !current.isFinished {
            // reset false appends to the stream's playlist.
            guard playlists[request.streamID, default: []].count < Self.maximumPlaylistItems else {
                encoder.write(session.onStatus(streamID: request.streamID, FMS.status(
                    "NetStream.Play.Failed", level: "error",
                    description: "Failed to queue \(request.name): the playlist holds \(Self.maximumPlaylistItems) items already.")), into: &output)
                return
            }
            playlists[request.streamID, default: []].append(request)
            current.continuesInPlaylist = true
            logger.info("play queued in playlist", metadata: ["stream": "\(request.name)"])
            return
        }
        if request.reset { playlists[request.streamID] = nil }
        playbacks.removeValue(forKey: request.streamID)
        openAndBegin(request, after: nil)
    }

    /// Starts the next playlist item of a stream whose item just ended, if there is one.
    private func playNextInPlaylist(_ streamID: UInt32, after previous: VODPlayback) -> Bool {
        guard var queue = playlists[streamID], !queue.isEmpty else { return false }
        let next = queue.removeFirst()
        playlists[streamID] = queue.isEmpty ? nil : queue
        openAndBegin(next, after: previous)
        return true
    }

    /// Opens the media and begins playback; a playlist item continues `previous`'s
    /// timeline, starting once the player has used up what it holds of it.
    private func openAndBegin(_ request: RTMPSession.PlayRequest, after previous: VODPlayback?) {
        openMedia(request.name) { [self] result in
            switch result {
            case .failure(let failure):
                let description: String
                switch failure {
                case .notFound:
                    description = "Failed to play \(request.name); stream not found."
                    logger.info("play: stream not found", metadata: ["stream": "\(request.name)"])
                case .unplayable(let key, let reason):
                    description = "Failed to play \(request.name); \(reason)."
                    logger.warning("play: cannot read media", metadata: ["object": "\(key)", "reason": "\(reason)"])
                }
                encoder.write(session.onStatus(streamID: request.streamID, FMS.status(
                    "NetStream.Play.StreamNotFound", level: "error", description: description,
                    extra: [("details", .string(request.name)), ("clientid", .string(session.clientID))])), into: &output)
                if let previous, !playNextInPlaylist(request.streamID, after: previous) {
                    // The playlist ends on a missing item: say so, or the player waits forever.
                    VODPlayback.writeStopped(streamID: request.streamID, name: request.name, clientID: session.clientID,
                                             amf3: session.isAMF3, encoder: &encoder, into: &output)
                }
            case .success(let opened):
                let playback = VODPlayback(
                    streamID: request.streamID, name: request.name, reader: opened.reader, clientID: session.clientID,
                    amf3: request.amf3, bufferLength: bufferLengths[request.streamID], length: request.length)
                playback.continuesInPlaylist = !(playlists[request.streamID]?.isEmpty ?? true)
                var start = Self.now()
                if let previous {
                    playback.timelineOffset = previous.timelineEnd
                    start += previous.leadAhead(now: start)
                }
                do {
                    try playback.begin(start: request.start, reset: request.reset, now: start, encoder: &encoder, into: &output)
                } catch {
                    encoder.write(session.onStatus(streamID: request.streamID, FMS.status("NetStream.Play.Failed", level: "error", description: "Failed to play \(request.name): \(error)")), into: &output)
                    return
                }
                playbacks[request.streamID] = playback
                logger.info("play", metadata: ["stream": "\(request.name)", "object": "\(opened.key)", "start": "\(request.start.map { "\($0) ms" } ?? "beginning")", "buffer": "\(playback.bufferLength)"])
                // Next tick: commands that arrived with this play (a playlist) are seen first,
                // and a playlist item begun from inside drive() does not re-enter it.
                scheduleDrive()
            }
        }
    }

    private func streamLength(transactionID: Double, name: String) {
        openMedia(name) { [self] result in
            let duration: AMFValue
            switch result {
            case .success(let opened): duration = .number(opened.reader.duration)
            case .failure: duration = .number(0)
            }
            encoder.write(RTMPCommand(name: "_result", transactionID: transactionID, arguments: [duration])
                .message(streamID: 0, chunkStreamID: ChunkStreamID.connectionCommand, amf3: session.isAMF3), into: &output)
        }
    }

    // MARK: Output and pacing

    private func flushOutput() {
        guard output.readableBytes > 0, context != nil, context.channel.isActive else { return }
        let out = output
        // No spare buffer waits between batches: a paced or idle client holds none.
        output = ByteBuffer()
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { drive() }
        context.fireChannelWritabilityChanged()
    }

    /// Runs `drive` on the next event-loop tick, once.
    private func scheduleDrive() {
        guard !driveScheduled else { return }
        driveScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            bound.value.driveScheduled = false
            bound.value.drive()
        }
    }

    private func scheduleWake(at time: UInt64) {
        guard time < wakeAt else { return }
        wakeTask?.cancel()
        wakeAt = time
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let delay = Int64(time) - Int64(Self.now())
        wakeTask = context.eventLoop.scheduleTask(in: .milliseconds(max(0, delay))) {
            let handler = bound.value
            handler.wakeAt = .max
            handler.wakeTask = nil
            handler.drive()
        }
    }

    /// Sends whatever is due on every playing stream while the socket accepts it.
    private func drive() {
        guard case .chunks = phase, context.channel.isActive else { return }
        var rounds = 0
        while context.channel.isWritable {
            var moreNow = false
            let now = Self.now()
            for (streamID, playback) in playbacks {
                let result: VODPlayback.PumpResult
                do {
                    result = try playback.pump(now: now, budget: Self.writeBatch, encoder: &encoder, into: &output)
                } catch {
                    stopPlayback(streamID, reason: "read error: \(error)")
                    continue
                }
                switch result {
                case .budgetUsed:
                    moreNow = true
                case .waitUntil(let time):
                    scheduleWake(at: time)
                case .finished:
                    playbacks.removeValue(forKey: streamID)
                    logger.info("play complete", metadata: ["stream": "\(playback.name)", "bytes": "\(playback.bytesSent)"])
                    _ = playNextInPlaylist(streamID, after: playback)
                case .paused:
                    break
                }
            }
            flushOutput()
            guard moreNow else { return }
            rounds += 1
            if rounds >= 8 {
                // Let other connections on this event loop have their turn.
                scheduleDrive()
                return
            }
        }
    }
}
