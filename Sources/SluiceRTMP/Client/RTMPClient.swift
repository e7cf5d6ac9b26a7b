import NIOCore
import NIOPosix

/// How fast a client reads, to play a player on a slower link: a rate in kbit/s from
/// the start, then other rates from given seconds on ("3000,@20:500,@40:3000").
public struct ReadThrottle: Sendable, Equatable {
    public var steps: [(seconds: Double, kilobitsPerSecond: Double)]

    public static func == (a: ReadThrottle, b: ReadThrottle) -> Bool {
        a.steps.map(\.seconds) == b.steps.map(\.seconds) && a.steps.map(\.kilobitsPerSecond) == b.steps.map(\.kilobitsPerSecond)
    }

    public init?(_ text: String) {
        var steps: [(Double, Double)] = []
        for (index, part) in text.split(separator: ",").enumerated() {
            let fields = part.split(separator: ":", maxSplits: 1)
            let seconds: Double, rate: Double?
            if fields.count == 2, fields[0].hasPrefix("@"), let at = Double(fields[0].dropFirst()), at.isFinite, at >= 0 {
                seconds = at
                rate = Double(fields[1])
            } else if fields.count == 1, index == 0 {
                seconds = 0
                rate = Double(fields[0])
            } else {
                return nil
            }
            guard let rate, rate.isFinite, rate > 0, seconds >= (steps.last?.0 ?? 0) else { return nil }
            steps.append((seconds, rate))
        }
        guard !steps.isEmpty else { return nil }
        self.steps = steps
    }

    /// The rate at `seconds` after the start.
    public func kilobitsPerSecond(at seconds: Double) -> Double {
        steps.last { $0.seconds <= seconds }?.kilobitsPerSecond ?? steps[0].kilobitsPerSecond
    }
}

/// A plain RTMP client over TCP for tools (`sluice probe`) and tests: the handshake
/// (simple or Flash Player 10's digest), chunking, acknowledgements and pings, and every
/// message the server sends, in order, as an asynchronous sequence.
public final class RTMPClient: Sendable {
    public enum Event: Sendable {
        /// A message, and the seconds since the connection opened when it was read.
        case message(RTMPMessage, seconds: Double)
        case closed
    }

    public let events: AsyncStream<Event>
    /// True when the server's S1 and S2 verified as Flash Media Server's.
    public let serverVerified: Bool
    private let channel: any Channel
    private let handler: NIOLoopBound<ClientChannelHandler>

    private init(channel: any Channel, handler: NIOLoopBound<ClientChannelHandler>, events: AsyncStream<Event>, verified: Bool) {
        self.channel = channel
        self.handler = handler
        self.events = events
        self.serverVerified = verified
    }

    /// Connects and completes the handshake.
    public static func connect(host: String, port: Int, digest: Bool = true, throttle: ReadThrottle? = nil,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> RTMPClient {
        let (events, continuation) = AsyncStream<Event>.makeStream()
        let loop = group.next()
        let handshakeDone = loop.makePromise(of: Bool.self)
        let handler = try await loop.submit {
            NIOLoopBound(ClientChannelHandler(digest: digest, throttle: throttle, continuation: continuation, handshakeDone: handshakeDone),
                         eventLoop: loop)
        }.get()
        var bootstrap = ClientBootstrap(group: loop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler.value) }
            }
        if throttle != nil {
            // Small reads and a small socket buffer, so that what the server can send
            // follows the rate the reads are held to.
            bootstrap = bootstrap.channelOption(.autoRead, value: false)
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 8192))
                .channelOption(.socketOption(.so_rcvbuf), value: 32 * 1024)
        }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            handshakeDone.fail(error)
            throw error
        }
        let verified = try await handshakeDone.futureResult.get()
        return RTMPClient(channel: channel, handler: handler, events: events, verified: verified)
    }

    /// Sends a message (chunked with the client's chunk size).
    public func send(_ message: RTMPMessage) {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.send(message) }
    }

    public func send(_ command: RTMPCommand, streamID: UInt32 = 0, amf3: Bool = false) {
        send(command.message(streamID: streamID, chunkStreamID: streamID == 0 ? ChunkStreamID.connectionCommand : ChunkStreamID.streamCommand, amf3: amf3))
    }

    public func close() {
        channel.close(promise: nil)
    }
}

final class ClientChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var handshake: ClientHandshake?
    let handshakeDone: EventLoopPromise<Bool>
    private let throttle: ReadThrottle?
    private let continuation: AsyncStream<RTMPClient.Event>.Continuation
    private var decoder = ChunkDecoder(limits: .init(maximumChunkSize: 1 << 24, maximumMessageSize: 1 << 26))
    private var encoder = ChunkEncoder()
    private var context: ChannelHandlerContext?
    private var openedAt = NIODeadline.now()
    private var peerWindow: UInt32 = 0
    private var acknowledged: UInt64 = 0
    /// Milliseconds of reading owed to the throttle, paid before the next read.
    private var readDebt = 0.0

    init(digest: Bool, throttle: ReadThrottle?, continuation: AsyncStream<RTMPClient.Event>.Continuation, handshakeDone: EventLoopPromise<Bool>) {
        handshake = ClientHandshake(digest: digest)
        self.throttle = throttle
        self.continuation = continuation
        self.handshakeDone = handshakeDone
    }

    private var seconds: Double { Double((NIODeadline.now() - openedAt).nanoseconds) / 1e9 }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        openedAt = .now()
        if let handshake {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: handshake.c0c1)), promise: nil)
        }
        if throttle != nil { context.read() }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshakeDone.fail(ChannelError.ioOnClosedChannel)
        continuation.yield(.closed)
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func send(_ message: RTMPMessage) {
        guard let context else { return }
        var out = context.channel.allocator.buffer(capacity: message.payload.readableBytes + 64)
        encoder.write(message, into: &out)
        if message.type == .setChunkSize, let size = message.payload.getInteger(at: message.payload.readerIndex, as: UInt32.self) {
            encoder.setChunkSize(Int(size & 0x7FFF_FFFF))
        }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if let rate = throttle?.kilobitsPerSecond(at: seconds) {
            readDebt += Double(bytes.readableBytes * 8) / rate
        }
        if var pending = handshake {
            do {
                guard let done = try pending.feed(bytes) else {
                    handshake = pending
                    return
                }
                handshake = nil
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: done.c2)), promise: nil)
                handshakeDone.succeed(done.serverVerified)
                bytes = done.leftover
            } catch {
                context.close(promise: nil)
                return
            }
        }
        decoder.feed(bytes)
        do {
            while let message = try decoder.nextMessage() {
                handle(message, context: context)
            }
        } catch {
            context.close(promise: nil)
        }
        if peerWindow > 0, decoder.bytesReceived - acknowledged >= UInt64(peerWindow) {
            acknowledged = decoder.bytesReceived
            send(ProtocolControl.acknowledgement(sequenceNumber: UInt32(truncatingIfNeeded: acknowledged)))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard throttle != nil else { return }
        let delay = readDebt
        readDebt = 0
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: .microseconds(Int64(delay * 1000))) { bound.value.read() }
    }

    private func handle(_ message: RTMPMessage, context: ChannelHandlerContext) {
        switch message.type {
        case .windowAcknowledgementSize:
            peerWindow = message.payload.getInteger(at: message.payload.readerIndex, as: UInt32.self) ?? 0
        case .userControl:
            if case .pingRequest(let timestamp)? = try? UserControlEvent.decode(message.payload) {
                send(ProtocolControl.userControl(.pingResponse(timestamp: timestamp)))
            }
        default:
            break
        }
        continuation.yield(.message(message, seconds: seconds))
    }
}
