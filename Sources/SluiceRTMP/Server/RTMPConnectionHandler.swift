import Logging
import NIOCore
import NIOPosix
import SluiceHTTP
import SluiceMedia
import Synchronization

/// Sent through every connection's pipeline when the server stops: plays are ended
/// with Play.Stop and the connection is closed.
public struct RTMPServerStopping: Sendable {}

/// The NIO driver of one `RTMPConnection`: it hands the connection the socket's bytes
/// and the time, and performs what it asks for: writes, media opens (inline when the
/// file's index is cached, else on the thread pool), wake-ups and the close.
final class RTMPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let configuration: RTMPServerConfiguration
    private let resolver: MediaResolver
    private let router: any ConnectRouter
    private let threadPool: NIOThreadPool
    private let logger: Logger
    private let limitLog: LimitLog
    private let clientID: String
    private let onClose: @Sendable () -> Void
    /// Called once, when the handshake completes or the connection closes before it does.
    private var onHandshakeEnded: (@Sendable () -> Void)?

    private var connection: RTMPConnection?
    private var context: ChannelHandlerContext!
    private var wakeTask: Scheduled<Void>?
    private var wakeAt: UInt64 = .max
    private var driveScheduled = false

    /// Handlers alive in this process: once their connections close, this comes back down
    /// (a handler kept by a reference cycle is memory kept for good).
    static let alive = Atomic<Int>(0)

    deinit {
        Self.alive.subtract(1, ordering: .relaxed)
    }

    init(configuration: RTMPServerConfiguration, resolver: MediaResolver, router: any ConnectRouter,
         threadPool: NIOThreadPool, logger: Logger, limitLog: LimitLog, clientID: String,
         onHandshakeEnded: @escaping @Sendable () -> Void, onClose: @escaping @Sendable () -> Void) {
        self.configuration = configuration
        self.resolver = resolver
        self.router = router
        self.threadPool = threadPool
        self.logger = logger
        self.limitLog = limitLog
        self.clientID = clientID
        self.onHandshakeEnded = onHandshakeEnded
        self.onClose = onClose
        Self.alive.add(1, ordering: .relaxed)
    }

    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds / 1_000_000 }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Adopted from another listener (the public HTTP port): the channel is already active.
        if context.channel.isActive { start(context: context) }
    }

    /// The context holds this handler: keeping it past removal would keep both, and every
    /// connection's memory, alive for good.
    func handlerRemoved(context: ChannelHandlerContext) {
        wakeTask?.cancel()
        connection = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard connection == nil else { return }
        connection = RTMPConnection(
            configuration: configuration, router: router, clientID: clientID, logger: logger, limitLog: limitLog,
            peerAddress: context.channel.remoteAddress?.ipAddress ?? "?", now: Self.now())
        RTMPMetrics.connections.increment()
        service()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if connection != nil { RTMPMetrics.connections.decrement() }
        wakeTask?.cancel()
        connection?.disconnected()
        connection = nil
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
            connection?.serverStopping()
            service()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func endHandshake() {
        onHandshakeEnded?()
        onHandshakeEnded = nil
    }

    // MARK: Input

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection?.receive(unwrapInboundIn(data), now: Self.now())
        service()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { drive() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Performing what the connection asks

    /// After every input: open what the connection asked for, write what it wrote, close
    /// if it asked to, send paced media and set the timer.
    private func service() {
        guard let connection, context != nil else { return }
        if connection.handshakeEnded { endHandshake() }
        openRequestedMedia(connection)
        flushOutput()
        if let close = connection.closeRequest {
            performClose(close)
            return
        }
        drive()
    }

    private func openRequestedMedia(_ connection: RTMPConnection) {
        while case let requests = connection.takeMediaOpenRequests(), !requests.isEmpty {
            for request in requests {
                if let opened = resolver.open(request.name, route: request.route, onlyIfIndexed: true) {
                    connection.mediaOpened(request.id, opened, now: Self.now())
                } else {
                    openOnThreadPool(request)
                }
            }
        }
    }

    /// A first open scans the file: off the event loop. The connection holds later
    /// messages back until the answer comes.
    private func openOnThreadPool(_ request: RTMPConnection.MediaOpenRequest) {
        let resolver = self.resolver
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        threadPool.runIfActive(eventLoop: context.eventLoop) {
            resolver.open(request.name, route: request.route)
        }.whenComplete { result in
            let handler = bound.value
            let opened: Result<ReaderBox, MediaResolver.Failure>
            switch result {
            case .success(let answer?): opened = answer
            case .success(nil), .failure: opened = .failure(.notFound)
            }
            handler.connection?.mediaOpened(request.id, opened, now: Self.now())
            handler.service()
        }
    }

    private func performClose(_ close: RTMPConnection.CloseRequest) {
        wakeTask?.cancel()
        switch close {
        case .now:
            context.close(promise: nil)
        case .afterFlush:
            // flushOutput has handed everything over; close once it is written.
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { _ in
                channel.close(promise: nil)
            }
        }
    }

    private func flushOutput() {
        guard let connection, context.channel.isActive, let out = connection.takeOutput() else { return }
        RTMPMetrics.bytesSent.increment(by: out.readableBytes)
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    // MARK: Pacing

    /// Sends whatever is due while the socket accepts it, then sets the timer.
    private func drive() {
        guard let connection, connection.closeRequest == nil, context.channel.isActive else { return }
        var rounds = 0
        while connection.isPlaying, context.channel.isWritable {
            let more = connection.pump(now: Self.now())
            openRequestedMedia(connection)
            flushOutput()
            guard more else { break }
            rounds += 1
            if rounds >= 8 {
                // Let other connections on this event loop have their turn.
                scheduleDrive()
                break
            }
        }
        if let close = connection.closeRequest {
            performClose(close)
            return
        }
        if let wake = connection.nextWakeUp { scheduleWake(at: wake) }
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
        let delay = Int64(clamping: time) - Int64(clamping: Self.now())
        wakeTask = context.eventLoop.scheduleTask(in: .milliseconds(max(0, delay))) {
            let handler = bound.value
            handler.wakeAt = .max
            handler.wakeTask = nil
            handler.connection?.wake(now: Self.now())
            handler.service()
        }
    }
}
