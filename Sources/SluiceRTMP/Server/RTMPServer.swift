import Logging
import NIOCore
import NIOPosix
import SluiceMedia
import Synchronization

/// The RTMP listener: accepts connections up to a limit and hands each to its own
/// `RTMPConnectionHandler`.
public final class RTMPServer: Sendable {
    public let configuration: RTMPServerConfiguration
    private let resolver: MediaResolver
    private let router: any ConnectRouter
    private let group: any EventLoopGroup
    private let threadPool: NIOThreadPool
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var listener: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
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
    }

    public var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Binds and starts accepting; returns the bound port (useful when asked for port 0).
    @discardableResult
    public func start() async throws -> Int {
        // A small user-space write backlog per connection: the kernel's socket buffer (which
        // grows to megabytes) holds the rest, so memory per client stays low at full speed.
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 16 * 1024, high: 32 * 1024))
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelInitializer { [self] channel in
                self.accept(channel)
            }
        let listener = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        state.withLock { $0.listener = listener }
        let port = listener.localAddress?.port ?? configuration.port
        logger.info("RTMP listening on \(configuration.host):\(port)")
        return port
    }

    private func accept(_ channel: any Channel) -> EventLoopFuture<Void> {
        let key = ObjectIdentifier(channel)
        let admitted: UInt64? = state.withLock { state in
            guard state.connections.count < configuration.maximumConnections else { return nil }
            state.connections[key] = channel
            defer { state.nextClientID += 1 }
            return state.nextClientID
        }
        let remote = channel.remoteAddress?.description ?? "?"
        guard let clientNumber = admitted else {
            logger.warning("refusing connection from \(remote): \(configuration.maximumConnections) connections already open")
            return channel.close()
        }
        var connectionLogger = logger
        connectionLogger[metadataKey: "client"] = "\(clientNumber)"
        connectionLogger[metadataKey: "peer"] = "\(remote)"
        connectionLogger.debug("connection accepted")
        let handler = RTMPConnectionHandler(
            configuration: configuration, resolver: resolver, router: router, threadPool: threadPool,
            logger: connectionLogger, clientID: String(clientNumber, radix: 16),
            onClose: { [self] in
                _ = self.state.withLock { $0.connections.removeValue(forKey: key) }
            })
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(handler)
        }
    }

    /// Stops accepting, gives running plays the grace period to finish, then ends the
    /// rest cleanly (Play.Stop, then close).
    public func shutdown() async {
        let listener = state.withLock { $0.listener }
        try? await listener?.close()
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
