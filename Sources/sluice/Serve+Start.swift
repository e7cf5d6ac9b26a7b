import Foundation
import Logging
import NIOCore
import NIOPosix
import SluiceCommandLine
import SluiceHTTP
import SluiceJobs
import SluiceMedia
import SluiceRTMP
import SluiceStore

/// The pieces `sluice serve` starts, one function each.
extension Serve {
    struct Stores {
        let store: any ObjectStore
        /// Set when the objects are in the data folder (the S3 API serves only those).
        let embedded: LocalObjectStore?
        let library: any MediaLibrary
        /// What the public HTTP port serves basic distributions from.
        let origin: PublicSite.Origin
    }

    /// The embedded store, unless the objects live on an external service.
    static func openStores(_ configuration: ServeConfiguration, folder: DataFolder, threadPool: NIOThreadPool,
                           logger: Logger) async throws -> Stores {
        if let external = configuration.external {
            let remote = try RemoteObjectStore(configuration: external)
            logger.info("objects are kept in \(remote.location)")
            try await prepareExternal(remote, defaultBucket: configuration.bucket, threadPool: threadPool, logger: logger)
            let cache = CachingMediaLibrary(store: remote, folder: folder.path + "/cache", capacity: configuration.cacheBytes, logger: logger)
            return Stores(store: remote, embedded: nil, library: cache, origin: .cached(cache))
        }
        let local = try LocalObjectStore(dataFolder: folder.path)
        let imported = try local.importBucketFolders()
        if imported > 0 {
            logger.info("registered \(imported) file(s) found in bucket folders as public-read objects")
        }
        // Only public-read objects stream; `sluice bucket` changes show at once (shared SQLite).
        return Stores(store: local, embedded: local, library: StoreMediaLibrary(store: local), origin: .embedded(local))
    }

    static func startS3API(_ configuration: ServeConfiguration, stores: Stores, users: UserDirectorySource,
                           group: MultiThreadedEventLoopGroup, threadPool: NIOThreadPool, logger: Logger) async throws -> S3APIServer? {
        let s3 = configuration.s3
        guard s3.port >= 0 else { return nil }
        guard let embedded = stores.embedded else {
            logger.notice("the embedded S3 API is off: objects live in \(stores.store.location), whose own API serves them")
            return nil
        }
        let api = S3APIServer(store: embedded, users: users, configuration: s3, group: group, threadPool: threadPool, logger: logger)
        try await Listener.bind("the S3 API", host: s3.host, port: s3.port, flag: "--s3-port") { try await api.start() }
        return api
    }

    /// The S3 API's users (administrators also sign the control API); the first start
    /// makes the administrator.
    static func openUsers(folder: DataFolder, settings: Settings, logger: Logger) throws -> UserDirectorySource {
        do {
            return try S3Credentials.directory(dataFolder: folder.path, settings: settings, logger: logger)
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    /// Port 80 unless told otherwise, falling back to 8080 when 80 cannot be bound.
    static func startPublicHTTP(_ configuration: ServeConfiguration, site: PublicSite, rtmp: RTMPServer, group: MultiThreadedEventLoopGroup,
                                logger: Logger) async throws -> PublicHTTPServer {
        let host = configuration.rtmp.host
        let http = PublicHTTPServer(group: group, logger: logger, limits: configuration.httpLimits,
                                    maximumConnections: configuration.httpConnections.total,
                                    maximumConnectionsPerAddress: configuration.httpConnections.perAddress)
        @Sendable func bind(_ port: Int) async throws {
            try await Listener.bind("the public HTTP listener", host: host, port: port, flag: "--http-port") {
                try await http.start(host: host, port: port, responder: site, rtmp: rtmp)
            }
        }
        switch configuration.requestedHTTPPort {
        case let requested? where requested >= 0:
            try await bind(requested)
        case nil:
            do {
                try await http.start(host: host, port: 80, responder: site, rtmp: rtmp)
            } catch {
                logger.notice("cannot bind HTTP port 80 (\(Listener.reason(error))); using 8080 instead")
                try await bind(8080)
            }
        default:
            break  // a negative port: no public HTTP listener
        }
        return http
    }

    /// With `watch.folder` set, files dropped there become jobs run in this process.
    static func startWatch(_ configuration: ServeConfiguration, store: any ObjectStore, folder: DataFolder, publicURL: PublicURL,
                           logger: Logger) throws -> (WatchFolder, JobRunner)? {
        guard let watch = configuration.watch else { return nil }
        do {
            let queue = try JobQueue(dataFolder: folder.path)
            var jobs = try JobRunnerConfiguration.located(workFolder: folder.path + "/work", presetsDir: watch.presetsDir)
            jobs.concurrency = watch.concurrency
            jobs.baseURL = publicURL.url
            let runner = JobRunner(queue: queue, store: store, configuration: jobs, logger: logger)
            let template = JobSpec(input: "", preset: watch.preset, bucket: configuration.bucket, prefix: watch.prefix, acl: "public-read")
            let watcher = WatchFolder(folder: watch.folder, queue: queue, template: template, stableFor: watch.stableSeconds, logger: logger)
            try watcher.start()
            try runner.start()
            logger.info("\(publicURL.notice)")
            return (watcher, runner)
        } catch {
            throw CommandFailure("cannot watch \(watch.folder): \(error)")
        }
    }
}
