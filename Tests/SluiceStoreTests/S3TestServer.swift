import Foundation
import Logging
import NIOCore
import NIOPosix
@testable import SluiceStore

/// An S3 API server on a fresh data folder and a free port, for one test.
final class S3TestServer {
    let folder: String
    let port: Int
    /// The users: each credential given to `start` is one (the first an administrator).
    let users: UserStore
    private let server: S3APIServer
    private let threadPool: NIOThreadPool

    private init(folder: String, port: Int, users: UserStore, server: S3APIServer, threadPool: NIOThreadPool) {
        self.folder = folder
        self.port = port
        self.users = users
        self.server = server
        self.threadPool = threadPool
    }

    static func start(credentials: [String: String], logLevel: Logger.Level = .warning,
                      prepare: (LocalObjectStore) throws -> Void = { _ in }) async throws -> S3TestServer {
        let folder = NSTemporaryDirectory() + "sluice-s3-\(UUID().uuidString)"
        let store = try LocalObjectStore(dataFolder: folder)
        try prepare(store)
        var configuration = S3APIConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        let users = try UserStore(dataFolder: folder)
        for (index, (access, secret)) in credentials.sorted(by: { $0.key < $1.key }).enumerated() {
            try users.addUser(name: "user\(index + 1)", email: "user\(index + 1)@example.com", administrator: index == 0,
                              key: AccessKeyPair(accessKey: access, secretKey: secret))
        }
        var logger = Logger(label: "sluice-s3-test")
        logger.logLevel = logLevel
        let threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        let server = S3APIServer(store: store, users: UserDirectorySource(store: users, configured: []), configuration: configuration, group: MultiThreadedEventLoopGroup.singleton,
                                 threadPool: threadPool, logger: logger)
        let port = try await server.start()
        return S3TestServer(folder: folder, port: port, users: users, server: server, threadPool: threadPool)
    }

    func stop() async {
        await server.shutdown()
        try? await threadPool.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: folder)
    }
}
