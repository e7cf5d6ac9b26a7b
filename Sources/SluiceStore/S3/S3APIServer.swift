import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SluiceHTTP
import Synchronization

public struct S3APIConfiguration: Sendable {
    public var host = "0.0.0.0"
    /// 0 picks a free port.
    public var port = 9000
    /// `BUCKET.DOMAIN` Host names are virtual-host style; anything else is path style.
    public var domains = ["localhost"]
    /// Answered by GetBucketLocation; clients may sign with any region.
    public var region = "us-east-1"
    public var maximumConnections = 1000
    /// Connections one peer address may hold open.
    public var maximumConnectionsPerAddress = 128
    /// Request line, header and timing limits (slowloris).
    public var limits = HTTPLimits()
    /// How far a signed request's x-amz-date may be from the server's clock.
    public var allowedClockSkew: TimeInterval = 15 * 60
    /// A connection that neither sends nor receives for this long is closed: an idle
    /// keep-alive connection, or a client that stalled mid-body.
    public var idleTimeout: TimeAmount = .seconds(120)
    /// The largest XML request document (CompleteMultipartUpload of 10,000 parts is
    /// about 900 KB): anything longer is MaxMessageLengthExceeded.
    public var maximumDocumentSize = 1 << 20

    public init() {}
}

/// The S3-compatible HTTP API on its own port, on the shared HTTP server core: request
/// bodies stream in with back-pressure and object bodies stream out in 1 MiB reads;
/// nothing holds a whole object in memory.
public final class S3APIServer: Sendable {
    let store: LocalObjectStore
    let users: UserDirectorySource
    let configuration: S3APIConfiguration
    let threadPool: NIOThreadPool
    let logger: Logger
    let server: HTTPServer

    public init(store: LocalObjectStore, users: UserDirectorySource, configuration: S3APIConfiguration, group: any EventLoopGroup,
                threadPool: NIOThreadPool, logger: Logger) {
        self.store = store
        self.users = users
        self.configuration = configuration
        self.threadPool = threadPool
        self.logger = logger
        var http = HTTPServerConfiguration(name: "S3 API", host: configuration.host, port: configuration.port, limits: configuration.limits,
                                           maximumConnections: configuration.maximumConnections,
                                           maximumConnectionsPerAddress: configuration.maximumConnectionsPerAddress)
        http.idleTimeout = configuration.idleTimeout
        http.requestIDHeader = "x-amz-request-id"
        http.defaultContentType = "application/xml"
        server = HTTPServer(configuration: http, group: group, threadPool: threadPool, logger: logger) { status, reason in
            ("application/xml", S3Error.forRefusedRequest(status, reason).document(resource: "/", requestID: HTTPServer.requestID()))
        }
    }

    /// Binds and starts accepting; returns the bound port.
    @discardableResult
    public func start() async throws -> Int {
        let handler = S3RequestHandler(store: store, users: users, configuration: configuration, threadPool: threadPool, logger: logger)
        let port = try await server.start(handler)
        let users = (try? await self.users.current(on: threadPool).users.map(\.name)) ?? []
        logger.info("S3 API listening on \(configuration.host):\(port) (path style, and virtual-host style under \(configuration.domains.joined(separator: ", "))); users: \(users.joined(separator: ", "))")
        return port
    }

    /// Stops accepting and closes idle keep-alive connections; requests in flight finish,
    /// then their connections close.
    public func shutdown() async {
        await server.shutdown()
    }
}

/// S3's names for the shared HTTP core's pieces.
typealias S3Connection = HTTPConnection
typealias S3Reply = HTTPReply
