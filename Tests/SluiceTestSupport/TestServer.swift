import Logging
import NIOCore
import NIOPosix
import SluiceMedia
import SluiceRTMP

/// An RTMP server on an ephemeral loopback port, serving a bucket root, for one test;
/// with `http`, the public HTTP port beside it (RTMPT, and RTMP on that port too).
public final class TestServer: Sendable {
    public let server: RTMPServer
    public let port: Int
    /// The public HTTP port, when started with `http`.
    public let httpPort: Int?
    private let http: PublicHTTPServer?
    private let threadPool: NIOThreadPool

    public var url: String { "rtmp://127.0.0.1:\(port)/cfx/st" }
    /// The same application through another variant (`rtmpe`).
    public func url(scheme: String) -> String { "\(scheme)://127.0.0.1:\(port)/cfx/st" }

    public static func start(
        bucketRoot: String, configure: (inout RTMPServerConfiguration) -> Void = { _ in },
        router: any ConnectRouter = SingleBucketRouter(bucket: "media"), http: Bool = false
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
        var publicHTTP: PublicHTTPServer?
        var httpPort: Int?
        if http {
            let listener = PublicHTTPServer(group: MultiThreadedEventLoopGroup.singleton, logger: logger)
            httpPort = try await listener.start(host: "127.0.0.1", port: 0, rtmp: server)
            publicHTTP = listener
        }
        return TestServer(server: server, port: port, httpPort: httpPort, http: publicHTTP, threadPool: threadPool)
    }

    private init(server: RTMPServer, port: Int, httpPort: Int?, http: PublicHTTPServer?, threadPool: NIOThreadPool) {
        self.server = server
        self.port = port
        self.httpPort = httpPort
        self.http = http
        self.threadPool = threadPool
    }

    public func stop() async {
        await http?.shutdown()
        await server.shutdown()
        try? await threadPool.shutdownGracefully()
    }
}
