import Logging
import NIOCore
import SluiceHTTP
import SluiceMedia

/// One RTMP connection's whole protocol, without a channel: bytes and the current time
/// in; bytes to send, the next wake-up time, media-open requests and a close request out.
///
/// The NIO handler, and later RTMPT (the same conversation carried by HTTP requests), are
/// drivers around it. RTMPE is inside: after its handshake the bytes in and out pass
/// through RC4 here, so every driver carries it. Because nothing here reads a clock or
/// touches a socket, tests drive it with a fake clock.
///
/// A driver's loop: after each input (`receive`, `mediaOpened`, `wake`, `serverStopping`),
/// take the open requests and answer each with `mediaOpened`, send `takeOutput()`, honour
/// `closeRequest`, call `pump` while the peer can take more, and call `wake` at
/// `nextWakeUp`.
public final class RTMPConnection {
    /// Asks the driver to open media: the answer comes back through `mediaOpened`. The
    /// first open of a file scans it, which is why this is not done here.
    public struct MediaOpenRequest: Sendable, Equatable {
        public let id: UInt64
        public let name: String
        public let route: StreamRoute
    }

    public enum CloseRequest: Equatable, Sendable {
        /// A broken limit or protocol: close at once, output dropped.
        case now(reason: String)
        /// A refused connect or a shutdown: send what is queued, then close.
        case afterFlush(reason: String)
    }

    enum Phase {
        case handshake(ServerHandshake)
        case chunks
        case closing
    }

    let configuration: RTMPServerConfiguration
    var logger: Logger
    private let limitLog: LimitLog
    let peerAddress: String

    var phase: Phase
    private var decoder: ChunkDecoder
    var encoder = ChunkEncoder()
    var session: RTMPSession
    var output = ByteBuffer()
    /// RTMPE's keystreams, once its handshake is done: every byte after C2 is inside them,
    /// both ways. Here rather than in each driver, so RTMPE works over TCP and inside the
    /// HTTP tunnel (RTMPTE) alike.
    private var ciphers: RTMPE.Ciphers?
    /// Output bytes written before the ciphers existed (the handshake's answer): sent as they are.
    private var plainOutputBytes = 0

    // Streams (see RTMPConnection+Streams.swift).
    var playbacks: [UInt32: VODPlayback] = [:]
    /// Items queued with `play(name, start, len, false)`, per stream, after the playing one.
    var playlists: [UInt32: [RTMPSession.PlayRequest]] = [:]
    /// Buffer lengths announced before the stream started playing.
    var bufferLengths: [UInt32: UInt32] = [:]
    /// Renditions a play2 switch moves to, per stream, ready at the playing one's switch point.
    var switches: [UInt32: VODPlayback] = [:]

    // Calls the server makes (bandwidth checks).
    var bandwidthCheck: BandwidthCheck?
    var bandwidthChecksRun = 0
    var nextCallID: Double = 1
    /// Checks one connection may ask for: a player asks once or twice, and each sends 512 KB.
    static let maximumBandwidthChecks = 4

    // Media opens.
    enum OpenPurpose {
        case play(RTMPSession.PlayRequest, after: VODPlayback?)
        case switchTo(RTMPSession.Play2Request)
        case streamLength(transactionID: Double)
    }
    private var nextOpenID: UInt64 = 1
    private var openRequests: [MediaOpenRequest] = []
    var opensOutstanding: [UInt64: OpenPurpose] = [:]

    // Time.
    private let connectedAt: UInt64
    private var lastInbound: UInt64
    /// The latest time any entry point was given: for durations in log lines.
    var latestNow: UInt64
    /// Bytes handed to the driver so far (`sc-bytes` of the access log).
    private(set) var bytesOut: UInt64 = 0
    private var housekeepingDue: UInt64
    /// The earliest time a paced stream has something to send.
    var pacingWakeUp: UInt64 = .max

    public private(set) var closeRequest: CloseRequest?
    /// True once the handshake is over, or the connection closed before it was.
    public private(set) var handshakeEnded = false

    /// Bytes written per `pump` per stream before the output is handed to the socket.
    public static let writeBatch = 32 * 1024
    /// Items one stream's playlist may queue: far more than a player uses, and a bound
    /// on what a client can make the server hold.
    public static let maximumPlaylistItems = 256

    /// The most a connection's input may hold undecoded or unfinished while a play opens.
    var inputLimit: Int { configuration.decoderLimits.maximumBufferedBytes + configuration.decoderLimits.maximumChunkSize }

    /// How often timeouts are checked and a silent peer is pinged.
    private static func housekeepingPeriod(_ configuration: RTMPServerConfiguration) -> UInt64 {
        let seconds = min(configuration.pingInterval, configuration.handshakeTimeout, 5)
        return seconds.isFinite && seconds > 0.05 ? UInt64(seconds * 1000) : 50
    }

    /// - Parameters:
    ///   - now: monotonic milliseconds; every later call passes the same clock.
    ///   - peerAddress: the client's IP, for the rate-limited line a closed connection logs.
    ///   - httpHost: the Host of the HTTP requests that carry the connection (RTMPT); it
    ///     routes the connect as well as the tcUrl does.
    public init(configuration: RTMPServerConfiguration, router: any ConnectRouter, clientID: String,
                logger: Logger, limitLog: LimitLog, peerAddress: String, now: UInt64, httpHost: String? = nil,
                randomBytes: @escaping (Int) -> [UInt8] = HandshakeRandom.bytes) {
        self.configuration = configuration
        self.logger = logger
        self.limitLog = limitLog
        self.peerAddress = peerAddress
        let epoch = UInt32(truncatingIfNeeded: now)
        phase = .handshake(ServerHandshake(randomBytes: randomBytes, epochMilliseconds: { epoch }))
        decoder = ChunkDecoder(limits: configuration.decoderLimits)
        session = RTMPSession(configuration: configuration.session, router: router, clientID: clientID)
        session.httpHost = httpHost
        connectedAt = now
        lastInbound = now
        latestNow = now
        housekeepingDue = now + Self.housekeepingPeriod(configuration)
    }

    // MARK: Outputs

    /// The bytes to send now, if any.
    public func takeOutput() -> ByteBuffer? {
        guard output.readableBytes > 0 else { return nil }
        bytesOut &+= UInt64(output.readableBytes)
        if ciphers != nil {
            let plain = min(plainOutputBytes, output.readableBytes)
            output.withUnsafeMutableReadableBytes { bytes in
                ciphers!.outgoing.apply(UnsafeMutableRawBufferPointer(rebasing: bytes[plain...]))
            }
            plainOutputBytes = 0
        }
        // No spare buffer waits between batches: a paced or idle client holds none.
        defer { output = ByteBuffer() }
        return output
    }

    /// Media to open; answer each with `mediaOpened`.
    public func takeMediaOpenRequests() -> [MediaOpenRequest] {
        defer { openRequests.removeAll() }
        return openRequests
    }

    /// When `wake` is next due (pacing, pings and timeouts).
    public var nextWakeUp: UInt64? {
        if case .closing = phase { return nil }
        return min(pacingWakeUp, housekeepingDue, bandwidthCheck?.deadlineAt ?? .max)
    }

    public var isClosing: Bool {
        if case .closing = phase { return true }
        return false
    }

    /// Whether any stream is playing (a driver may then `pump`).
    public var isPlaying: Bool { !playbacks.isEmpty }

    // MARK: Inputs

    /// Bytes from the peer.
    public func receive(_ bytes: ByteBuffer, now: UInt64) {
        lastInbound = now
        latestNow = max(latestNow, now)
        switch phase {
        case .handshake(var handshake):
            do {
                switch try handshake.feed(bytes) {
                case .needMoreData:
                    phase = .handshake(handshake)
                case .send(let reply):
                    phase = .handshake(handshake)
                    output.writeBytes(reply)
                case .complete(var leftover):
                    logger.debug("handshake complete (\(handshake.kind))")
                    handshakeEnded = true
                    phase = .chunks
                    if let negotiated = handshake.ciphers {
                        ciphers = negotiated
                        plainOutputBytes = output.readableBytes
                        decrypt(&leftover)
                    }
                    decoder.feed(leftover)
                    processMessages(now: now)
                }
            } catch {
                fail("\(error)")
            }
        case .chunks:
            var bytes = bytes
            if ciphers != nil { decrypt(&bytes) }
            decoder.feed(bytes)
            // While a file opens, messages wait undecoded: bound what a client can pile up.
            if !opensOutstanding.isEmpty, decoder.bufferedBytes > inputLimit {
                fail("more than \(inputLimit) bytes sent while a play was opening")
                return
            }
            processMessages(now: now)
        case .closing:
            break
        }
    }

    private func decrypt(_ bytes: inout ByteBuffer) {
        bytes.withUnsafeMutableReadableBytes { ciphers!.incoming.apply($0) }
    }

    /// The time has come (`nextWakeUp`): timeouts and pings. Paced streams are sent by
    /// the `pump` that follows.
    public func wake(now: UInt64) {
        latestNow = max(latestNow, now)
        if now >= pacingWakeUp { pacingWakeUp = .max }
        if let result = bandwidthCheck?.expire(now: now) { finishBandwidthCheck(result) }
        guard now >= housekeepingDue else { return }
        housekeepingDue = now + Self.housekeepingPeriod(configuration)
        checkTimeouts(now: now)
    }

    /// The server is stopping: running plays end with Play.Stop, then the connection closes.
    public func serverStopping() {
        for playback in playbacks.values where !playback.isFinished {
            encoder.write(session.onStatus(streamID: playback.streamID, FMS.status(
                "NetStream.Play.Stop", description: "Server shutting down; stopped playing \(playback.name).")), into: &output)
        }
        closeAfterFlush(reason: "server shutting down")
    }

    /// The peer is gone: say what it was playing.
    public func disconnected() {
        for playback in playbacks.values {
            if !playback.isFinished { logPlay(playback, "ended by disconnect") }
            streamEvent(.stop, name: playback.name, streamID: playback.streamID)
        }
        if session.route != nil { streamEvent(.disconnect) }
        playbacks.removeAll()
        phase = .closing
        handshakeEnded = true
        logger.debug("connection closed")
    }

    private func checkTimeouts(now: UInt64) {
        let silence = Double(now &- lastInbound) / 1000
        let age = Double(now &- connectedAt) / 1000
        switch phase {
        case .handshake:
            if age > configuration.handshakeTimeout {
                fail("handshake not completed in \(configuration.handshakeTimeout) s")
            }
        case .chunks:
            if session.state == .awaitingConnect, age > configuration.handshakeTimeout * 2 {
                fail("no connect command in time")
            } else if silence > configuration.idleTimeout {
                fail("idle for \(Int(silence)) s")
            } else if silence > configuration.pingInterval {
                encoder.write(ProtocolControl.userControl(.pingRequest(timestamp: UInt32(truncatingIfNeeded: now))), into: &output)
            }
        case .closing:
            break
        }
    }

    /// Closes the connection for breaking a limit or the protocol: one log line, rate
    /// limited across connections, since a hostile client can make many.
    func fail(_ reason: String) {
        if case .closing = phase { return }
        limitLog.closed("RTMP connection from \(peerAddress)", reason: reason)
        logger.debug("closing connection: \(reason)")
        phase = .closing
        output.clear()
        closeRequest = .now(reason: reason)
    }

    func closeAfterFlush(reason: String) {
        if case .closing = phase { return }
        logger.info("closing connection: \(reason), client \(peerAddress)")
        phase = .closing
        closeRequest = .afterFlush(reason: reason)
    }

    // MARK: Messages

    /// Decodes and handles messages until the input runs out or a media open must be
    /// answered first (later messages apply after it, in order).
    func processMessages(now: UInt64) {
        while opensOutstanding.isEmpty, case .chunks = phase {
            let message: RTMPMessage?
            do {
                message = try decoder.nextMessage()
            } catch {
                fail("protocol error: \(error)")
                return
            }
            guard let message else { break }
            do {
                perform(try session.handle(message), now: now)
            } catch {
                fail("protocol error: \(error)")
                return
            }
        }
        if case .chunks = phase {
            perform(session.acknowledgements(totalReceived: decoder.bytesReceived), now: now)
        }
    }

    /// Asks the driver to open `name` on the connection's route; `purpose` says what to
    /// do with it once open.
    func requestOpen(_ name: String, for purpose: OpenPurpose) {
        guard let route = session.route else { return }
        let id = nextOpenID
        nextOpenID += 1
        opensOutstanding[id] = purpose
        openRequests.append(MediaOpenRequest(id: id, name: name, route: route))
    }

    /// Answers every open request here and now from `resolver`, the opens those answers
    /// lead to included: for drivers that may wait on the disk (tests, fuzzing, tools).
    public func openRequestedMedia(with resolver: MediaResolver, now: UInt64) {
        while case let requests = takeMediaOpenRequests(), !requests.isEmpty {
            for request in requests {
                mediaOpened(request.id, resolver.open(request.name, route: request.route) ?? .failure(.notFound), now: now)
            }
        }
    }

    /// The answer to a `MediaOpenRequest`.
    public func mediaOpened(_ id: UInt64, _ result: Result<ReaderBox, MediaResolver.Failure>, now: UInt64) {
        latestNow = max(latestNow, now)
        guard let purpose = opensOutstanding.removeValue(forKey: id), case .chunks = phase else { return }
        switch purpose {
        case .play(let request, let previous):
            begin(request, after: previous, opened: result, now: now)
        case .switchTo(let request):
            prepareSwitch(request, opened: result, now: now)
        case .streamLength(let transactionID):
            let duration: Double
            if case .success(let opened) = result { duration = opened.reader.duration } else { duration = 0 }
            encoder.write(RTMPCommand(name: "_result", transactionID: transactionID, arguments: [.number(duration)])
                .message(streamID: 0, chunkStreamID: ChunkStreamID.connectionCommand, amf3: session.isAMF3), into: &output)
        }
        processMessages(now: now)
    }
}
