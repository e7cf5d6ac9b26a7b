import ArgumentParser
import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import SluiceMedia
import SluiceRTMP
import SluiceHTTP
import SluiceCommandLine
import SluiceControl
import SluiceJobs
import SluiceStore
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the RTMP server (and the public HTTP listener) on the data folder.",
        discussion: """
            Plays the default bucket's public-read objects at
            rtmp://HOST:1935/cfx/st/<key>: FLV by name with or without .flv, mp4:NAME and
            mp3:NAME, in sub-folders too. Files put in DATA/buckets/NAME/ by hand are
            registered as public-read objects on start; use `sluice bucket` for the rest.
            The default bucket is 'media'; on first start it holds sample.flv, so this
            works at once:

              rtmpdump -r rtmp://127.0.0.1:1935/cfx/st -y sample.flv -o out.flv

            Settings (flag / SLUICE_ variable / sluice.yml key):
              --rtmp-host, --rtmp-port  rtmp.host, rtmp.port (0.0.0.0, 1935)
              --http-port               http.port (80, or 8080 when 80 is taken)
              --s3-port                 s3.port (9000; -1 disables the S3 API)
              --control-port            control.port (8090: /metrics and /health;
                                        -1 disables it), control.host (the RTMP host)
                                        s3.host (the RTMP host), s3.region
                                        (us-east-1), s3.domain (localhost:
                                        BUCKET.localhost is virtual-host
                                        style), s3.access-key, s3.secret-key
              --max-connections         rtmp.max-connections (2000)
              --chunk-size              rtmp.chunk-size (4096)
              --idle-timeout            rtmp.idle-timeout, seconds (120)
              --shutdown-grace          shutdown-grace, seconds (5)
            Limits (sluice.yml or SLUICE_ variables; what breaks one is closed, with one
            log line per kind of refusal every 10 s):
                                        rtmp.max-handshakes (200 at once),
                                        rtmp.handshake-timeout (10 s),
                                        rtmp.max-message-size (1048576 bytes),
                                        http.max-connections (2000, each HTTP port),
                                        http.max-connections-per-ip (128),
                                        http.head-timeout (10 s: slowloris),
                                        http.max-header-bytes (16384: 431),
                                        http.max-uri-bytes (8192: 414)
              --default-bucket          default-bucket (media)
              --public-url              public-url: the RTMP base URL manifests
                                        point players at (rtmp://HOSTNAME:PORT/cfx/st,
                                        guessed and printed when unset)
              --log-level               log-level (info)
              --log-format              log-format (text; json: one object a line)
            Distributions (sluice distribution --help) route RTMP connects by the host in
            their tcUrl to an origin bucket; distributions.domain (sluice.localhost) ends
            the domain names they get, and hosts no distribution claims stream the
            default bucket unless distributions.default is off. Access logs of the
            distributions that have Logging go to their bucket every
            distributions.log-period seconds (3600).
            With watch.folder set, files dropped there are encoded with watch.preset
            (dynamic-streaming) and published public-read under
            default-bucket/watch.prefix/ASSET/, as `sluice watch` does;
            watch.stable-seconds (2), jobs.concurrency (1).

            \(StoreBackend.help)

            The S3-compatible API signs with AWS Signature V4, with the keys of the users in
            DATA/users.sqlite (`sluice user`) and in sluice.yml (users.NAME: access-key,
            secret-key, email, id, administrator). On first start an administrator, admin,
            is made and its key pair printed and kept in DATA/s3-credentials.yml, unless
            s3.access-key and s3.secret-key give admin's keys. Administrators also sign
            the control API. Buckets and objects have owners and ACLs as in S3:

              aws --endpoint-url http://127.0.0.1:9000 \\
                  s3 cp talk.flv s3://media/talk.flv --acl public-read

            SIGINT or SIGTERM stop accepting, let plays finish for the grace period, then
            stop them; a running encode goes back to the queue. A second signal stops at
            once. The data folder is created on the first start (only serve does that).
            """
    )

    @OptionGroup var location: DataLocation

    @Option(name: .long, help: "Address the RTMP listener binds.")
    var rtmpHost: String?

    @Option(name: .long, help: "RTMP port; 0 picks a free one.")
    var rtmpPort: Int?

    @Option(name: .long, help: "Public HTTP port (crossdomain.xml); 0 picks a free one, --http-port=-1 disables it.")
    var httpPort: Int?

    @Option(name: .long, help: "S3 API port; 0 picks a free one, --s3-port=-1 disables it.")
    var s3Port: Int?

    @Option(name: .long, help: "Control port (/metrics, /health); 0 picks a free one, --control-port=-1 disables it.")
    var controlPort: Int?

    @Option(name: .long, help: "Most simultaneous RTMP connections.")
    var maxConnections: Int?

    @Option(name: .long, help: "Outgoing RTMP chunk size in bytes.")
    var chunkSize: Int?

    @Option(name: .long, help: "Seconds of client silence before a connection is closed.")
    var idleTimeout: Double?

    @Option(name: .long, help: "Seconds running plays get to finish on shutdown.")
    var shutdownGrace: Double?

    @Option(name: .long, help: "The bucket that application cfx/st streams from.")
    var defaultBucket: String?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    @Option(name: .long, help: "text (the default) or json: one JSON object per line, for log shippers.")
    var logFormat: String?

    @Option(name: .long, help: "The RTMP base URL manifests point players at (public-url).")
    var publicURL: String?

    @Flag(name: .long, help: "Check the settings, print each with its value and where it came from, then exit.")
    var printSettings = false

    static var knownSettings: [String] { Settings.knownKeys }

    func run() async throws {
        let folder = DataFolder(location.path)
        let (settings, configuration) = try loadSettings(folder)
        if printSettings {
            print("data = \(folder.path)")
            for key in Self.knownSettings {
                let (value, source) = settings.describe(key)
                let shown = key.hasSuffix("secret-key") && source != "default" ? "(hidden)" : value
                print("\(key) = \(shown) (\(source))")
            }
            return
        }
        CommandLogging.bootstrap(level: configuration.logLevel, format: configuration.logFormat)
        ControlPort.bootstrapMetrics()
        let logger = Logger(label: "sluice")
        if !FileManager.default.fileExists(atPath: folder.path) {
            logger.notice("first start: creating the data folder \(folder.path)")
        }
        try folder.prepare(defaultBucket: configuration.bucket, addSample: configuration.external == nil, logger: logger)
        logger.info("data folder: \(folder.path)")

        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let threadPool = NIOThreadPool(numberOfThreads: 4)
        threadPool.start()
        // What runs, in start order; shutdown goes the other way, each part stopped
        // before the one started before it (ServiceGroup's graceful shutdown).
        var services = [StartedService("event loops and thread pool") {
            try? await threadPool.shutdownGracefully()
            try? await group.shutdownGracefully()
        }]
        let stores = try await Self.openStores(configuration, folder: folder, threadPool: threadPool, logger: logger)
        let accessLogs = AccessLogs(store: stores.store, period: configuration.accessLogPeriod, logger: logger)
        let domains = configuration.s3.domains
        let siteHosts = PublicSite.Hosts()
        let distributions = try DistributionSync(store: try DistributionStore.open(folder: folder.path, settings: settings, store: stores.store),
                                                 defaultBucket: configuration.defaultDistribution ? configuration.bucket : nil, logger: logger) {
            accessLogs.update($0, s3Domains: domains)
            siteHosts.update($0)
        }
        distributions.start()
        accessLogs.start()
        // The last access-log lines are written after the plays they describe ended.
        services.append(StartedService("access logs") { _ = try? await threadPool.runIfActive { accessLogs.stop() } })
        var rtmp = configuration.rtmp
        rtmp.streamEvents = accessLogs
        let server = RTMPServer(configuration: rtmp, resolver: MediaResolver(library: stores.library),
                                router: distributions.router, group: group, threadPool: threadPool, logger: logger)
        let rtmpPort = try await Listener.bind("the RTMP listener", host: rtmp.host, port: rtmp.port, flag: "--rtmp-port") {
            try await server.start()
        }
        services.append(StartedService("RTMP") { await server.shutdown() })
        let users = try Self.openUsers(folder: folder, settings: settings, logger: logger)
        if let s3Server = try await Self.startS3API(configuration, stores: stores, users: users, group: group,
                                                    threadPool: threadPool, logger: logger) {
            services.append(StartedService("S3 API") { await s3Server.shutdown() })
        }
        if configuration.controlPort >= 0 {
            let control = try await ControlPort.start(host: configuration.controlHost, port: configuration.controlPort,
                                                      limits: configuration.httpLimits, dataFolder: folder.path,
                                                      api: ControlAPI(store: distributions.store),
                                                      users: users,
                                                      group: group, threadPool: threadPool, logger: logger)
            services.append(StartedService("control port") { await control.shutdown() })
        }
        var site = PublicSite(hosts: siteHosts, accessLogs: accessLogs, origin: stores.origin, threadPool: threadPool, logger: logger)
        site.tunnel = server.makeTunnel()
        let http = try await Self.startPublicHTTP(configuration, site: site, rtmp: server, group: group, logger: logger)
        services.append(StartedService("public HTTP") { await http.shutdown() })
        services.append(StartedService("distribution sync") { distributions.stop() })
        let publicURL = try PublicURL.resolve(settings, rtmpPort: rtmpPort)
        if let (watcher, runner) = try Self.startWatch(configuration, store: stores.store, folder: folder, publicURL: publicURL, logger: logger) {
            let grace = rtmp.shutdownGrace
            services.append(StartedService("watch folder and jobs") {
                watcher.stop()
                // Waits for a running encode to stop and go back to the queue: off the
                // concurrency pool, which must not block.
                _ = try? await threadPool.runIfActive { runner.stop() }
                if runner.notifier.pendingDeliveries > 0 {
                    _ = try? await threadPool.runIfActive { runner.notifier.waitForDeliveries(upTo: grace) }
                }
            })
        }

        let lifecycle = ServiceGroup(configuration: ServiceGroupConfiguration(services: services.map { .init(service: $0) }, logger: logger))
        ShutdownSignal.watch { name in
            logger.info("received \(name); shutting down")
            Task { await lifecycle.triggerGracefulShutdown() }
        }
        logger.info("ready: rtmpdump -r rtmp://127.0.0.1:\(rtmpPort)/cfx/st -y sample.flv -o out.flv")
        try await lifecycle.run()
        logger.info("stopped")
    }

    /// The data folder's settings under the flags, checked whole.
    func loadSettings(_ folder: DataFolder) throws -> (Settings, ServeConfiguration) {
        do {
            var settings = try Settings.load(dataFolder: folder.path)
            settings.override("rtmp.host", rtmpHost, flag: "--rtmp-host")
            settings.override("rtmp.port", rtmpPort, flag: "--rtmp-port")
            settings.override("http.port", httpPort, flag: "--http-port")
            settings.override("s3.port", s3Port, flag: "--s3-port")
            settings.override("control.port", controlPort, flag: "--control-port")
            settings.override("rtmp.max-connections", maxConnections, flag: "--max-connections")
            settings.override("rtmp.chunk-size", chunkSize, flag: "--chunk-size")
            settings.override("rtmp.idle-timeout", idleTimeout, flag: "--idle-timeout")
            settings.override("shutdown-grace", shutdownGrace, flag: "--shutdown-grace")
            settings.override("default-bucket", defaultBucket, flag: "--default-bucket")
            settings.override("log-level", logLevel, flag: "--log-level")
            settings.override("log-format", logFormat, flag: "--log-format")
            settings.override("public-url", publicURL, flag: "--public-url")
            return (settings, try ServeConfiguration(settings))
        } catch let problem as Settings.Problem {
            throw CommandFailure(problem.description)
        }
    }
}

extension Serve {
    /// Checks the external bucket answers, and makes the default bucket there (with the
    /// sample clip, as the embedded store's first start does). An unreachable service only
    /// warns: plays and jobs retry, and work once it is back; wrong keys stop the start.
    static func prepareExternal(_ store: RemoteObjectStore, defaultBucket: String, threadPool: NIOThreadPool, logger: Logger) async throws {
        do {
            try await threadPool.runIfActive {
                try store.checkReachable()
                guard try !store.bucketExists(defaultBucket) else { return }
                try store.createBucket(defaultBucket)
                logger.info("created bucket '\(defaultBucket)' in \(store.location)")
                if let sample = DataFolder.bundledSample() {
                    try store.putObject(bucket: defaultBucket, key: "sample.flv", file: sample, acl: .publicRead)
                    logger.info("added sample clip: \(defaultBucket)/sample.flv")
                }
            }
        } catch let error as StoreError where error.code == .serviceUnavailable {
            logger.warning("the external store is not reachable yet: \(error)")
        } catch {
            throw CommandFailure("the external store: \(error)")
        }
    }
}

/// SIGINT and SIGTERM: the first starts the graceful shutdown, a second stops at once.
/// Watched from before the server says it is ready, so no signal finds it unprepared.
enum ShutdownSignal {
    static func watch(_ first: @escaping @Sendable (String) -> Void) {
        let queue = DispatchQueue(label: "sluice.signals")
        let latch = SignalLatch(first)
        for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { latch.fire(name) }
            latch.keep(source)
            source.resume()
        }
    }

    private final class SignalLatch: @unchecked Sendable {
        // `first` is touched only on the signal queue; `sources` only before any source
        // is resumed. The latch keeps its sources and their handlers keep the latch: the
        // watch lasts as long as the process.
        private var first: (@Sendable (String) -> Void)?
        private var sources: [any DispatchSourceSignal] = []

        init(_ first: @escaping @Sendable (String) -> Void) {
            self.first = first
        }

        func keep(_ source: any DispatchSourceSignal) { sources.append(source) }

        func fire(_ name: String) {
            guard let first else {
                // A second Ctrl-C does not wait for the graceful shutdown.
                _exit(name == "SIGTERM" ? 128 + SIGTERM : 128 + SIGINT)
            }
            self.first = nil
            first(name)
        }
    }
}
