import Logging
import NIOCore
import NIOPosix
import SluiceHTTP
import SluiceMedia
import Synchronization

/// The RTMP listener: accepts connections up to a limit and hands each to its own
/// `RTMPConnectionHandler`.
public final class RTMPServer: Sendable {
    public let configuration: RTMPServerConfiguration
    let resolver: MediaResolver
    let router: any ConnectRouter
    let group: any EventLoopGroup
    let threadPool: NIOThreadPool
    let logger: Logger
    let limitLog: LimitLog
    private let state = Mutex(State())

    private struct State {
        var listeners: [any Channel] = []
        var connections: [ObjectIdentifier: any Channel] = [:]
        /// Connections that have not finished the handshake.
        var handshaking = 0
        var nextClientID: UInt64 = 1
    }

    public init(configuration: RTMPServerConfiguration, resolver: MediaResolver, router: any ConnectRouter,
                group: any EventLoopGroup, threadPool: NIOThreadPool, logger: Logger) {
        self.configuration = configuration
        self.resolver = resolver
        self.router = router
        self.group = group
        self.threadPool = threadPool
        self.logger = logger
        limitLog = LimitLog(logger: logger)
    }

    public var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Connection handlers alive in the process, of every server: after connections
    /// close this must come back down, or their memory is kept.
    public static var handlersAlive: Int { RTMPConnectionHandler.alive.load(ordering: .relaxed) }

    /// Binds and starts accepting; returns the bound port (useful when asked for port 0).
    ///
    /// Each event loop gets a listener of its own on the one port (SO_REUSEPORT; the
    /// kernel spreads connections across them), so a connection is accepted and served on
    /// the same thread, as an nginx worker does. One shared listener handed every
    /// connection to another loop, a thread wake-up on the way to every first video.
    @discardableResult
    public func start() async throws -> Int {
        var port = configuration.port
        if port != 0 {
            // SO_REUSEPORT would let a second server (of the same user) share the port
            // silently; a plain bind first fails, as before, when anything holds it.
            try Self.checkPortIsFree(host: configuration.host, port: port)
        }
        var listeners: [any Channel] = []
        do {
            for loop in group.makeIterator() {
                // A small user-space write backlog per connection: the kernel's socket
                // buffer (which grows to megabytes) holds the rest, so memory per client
                // stays low at full speed.
                let bootstrap = ServerBootstrap(group: loop)
                    .serverChannelOption(.backlog, value: 1024)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .serverChannelOption(.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
                    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                    .childChannelOption(.writeBufferWaterMark, value: .init(low: 16 * 1024, high: 32 * 1024))
                    .childChannelOption(.maxMessagesPerRead, value: 4)
                    .childChannelInitializer { [self] channel in
                        self.accept(channel)
                    }
                let listener = try await bootstrap.bind(host: configuration.host, port: port).get()
                listeners.append(listener)
                port = listener.localAddress?.port ?? port
            }
        } catch {
            for listener in listeners { try? await listener.close() }
            throw error
        }
        state.withLock { $0.listeners = listeners }
        logger.info("RTMP listening on \(configuration.host):\(port) (\(listeners.count) event loops)")
        return port
    }

    /// Throws EADDRINUSE (as binding did before) when a socket already listens on the port.
    static func checkPortIsFree(host: String, port: Int) throws {
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let descriptor = socket(Int32(address.protocol.rawValue), Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        defer { close(descriptor) }
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        let result = address.withSockAddr { pointer, size in bind(descriptor, pointer, socklen_t(size)) }
        guard result == 0 else { throw IOError(errnoCode: errno, reason: "bind(descriptor:ptr:bytes:)") }
    }

    private func accept(_ channel: any Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            guard let handler = admit(channel) else {
                channel.close(promise: nil)
                return
            }
            try channel.pipeline.syncOperations.addHandler(handler)
        }
    }

    /// Takes over a connection another listener accepted (the public HTTP port, when its
    /// first byte is RTMP's), on its event loop: the same limits, options and handler as
    /// one accepted here. A refused one is closed.
    public func adopt(_ channel: any Channel) throws {
        guard let handler = admit(channel) else {
            channel.close(promise: nil)
            return
        }
        try channel.syncOptions?.setOption(.writeBufferWaterMark, value: .init(low: 16 * 1024, high: 32 * 1024))
        try channel.syncOptions?.setOption(.maxMessagesPerRead, value: 4)
        try channel.pipeline.syncOperations.addHandler(handler)
    }

    /// A connection within the limits gets its handler; nil (and one log line) otherwise.
    private func admit(_ channel: any Channel) -> RTMPConnectionHandler? {
        let key = ObjectIdentifier(channel)
        let admitted: (number: UInt64?, refusal: String?) = state.withLock { state in
            guard state.connections.count < configuration.maximumConnections else {
                return (nil, "\(configuration.maximumConnections) connections already open")
            }
            guard state.handshaking < configuration.maximumHandshakes else {
                return (nil, "\(configuration.maximumHandshakes) connections already in the handshake")
            }
            state.connections[key] = channel
            state.handshaking += 1
            defer { state.nextClientID += 1 }
            return (state.nextClientID, nil)
        }
        let remote = channel.remoteAddress?.description ?? "?"
        guard let clientNumber = admitted.number else {
            limitLog.closed("RTMP connection from \(channel.remoteAddress?.ipAddress ?? "?")", reason: admitted.refusal ?? "refused")
            return nil
        }
        var connectionLogger = logger
        connectionLogger[metadataKey: "client"] = "\(clientNumber)"
        connectionLogger[metadataKey: "peer"] = "\(remote)"
        connectionLogger.debug("connection accepted")
        let handler = RTMPConnectionHandler(
            configuration: configuration, resolver: resolver, router: router, threadPool: threadPool,
            logger: connectionLogger, limitLog: limitLog, clientID: String(clientNumber, radix: 16),
            onHandshakeEnded: { [self] in
                self.state.withLock { $0.handshaking -= 1 }
            },
            onClose: { [self] in
                _ = self.state.withLock { $0.connections.removeValue(forKey: key) }
            })
        return handler
    }

    /// Stops accepting, gives running plays the grace period to finish, then ends the
    /// rest cleanly (Play.Stop, then close).
    public func shutdown() async {
        let listeners = state.withLock { $0.listeners }
        for listener in listeners { try? await listener.close() }
        logger.info("RTMP listener closed; \(connectionCount) connection(s) open")
        let deadline = ContinuousClock.now + .milliseconds(Int(configuration.shutdownGrace * 1000))
        while connectionCount > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        let remaining = state.withLock { Array($0.connections.values) }
        for channel in remaining {
            channel.pipeline.fireUserInboundEventTriggered(RTMPServerStopping())
        }
        let closeDeadline = ContinuousClock.now + .seconds(2)
        while connectionCount > 0, ContinuousClock.now < closeDeadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for channel in state.withLock({ Array($0.connections.values) }) {
            try? await channel.close()
        }
    }
}
