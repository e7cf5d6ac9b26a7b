import Logging
import NIOCore
import NIOPosix
import SluiceMedia
import SluiceRTMP

/// An RTMP server on an ephemeral loopback port, serving a bucket root, for one test.
public final class TestServer: Sendable {
    public let server: RTMPServer
    public let port: Int
    private let threadPool: NIOThreadPool

    public var url: String { "rtmp://127.0.0.1:\(port)/cfx/st" }
    /// The same application through another variant (`rtmpe`).
    public func url(scheme: String) -> String { "\(scheme)://127.0.0.1:\(port)/cfx/st" }

    public static func start(
        bucketRoot: String, configure: (inout RTMPServerConfiguration) -> Void = { _ in },
        router: any ConnectRouter = SingleBucketRouter(bucket: "media")
    ) async throws -> TestServer {
        var configuration = RTMPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.shutdownGrace = 0.2
        configure(&configuration)
        var logger = Logger(label: "sluice-test")
        logger.logLevel = .warning
        let threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        let server = RTMPServer(
            configuration: configuration, resolver: MediaResolver(library: FolderMediaLibrary(root: bucketRoot)),
            router: router, group: MultiThreadedEventLoopGroup.singleton, threadPool: threadPool, logger: logger)
        let port = try await server.start()
        return TestServer(server: server, port: port, threadPool: threadPool)
    }

    private init(server: RTMPServer, port: Int, threadPool: NIOThreadPool) {
        self.server = server
        self.port = port
        self.threadPool = threadPool
    }

    public func stop() async {
        await server.shutdown()
        try? await threadPool.shutdownGracefully()
    }
}
