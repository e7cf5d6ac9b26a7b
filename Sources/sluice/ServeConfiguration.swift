import Foundation
import Logging
import SluiceCommandLine
import SluiceHTTP
import SluiceMedia
import SluiceRTMP
import SluiceStore

/// Every setting `sluice serve` reads, checked in one place before anything starts, so
/// that `--print-settings` accepts and refuses exactly what a start does.
struct ServeConfiguration {
    var logLevel: Logger.Level
    var logFormat: LogFormat
    var rtmp = RTMPServerConfiguration()
    var s3 = S3APIConfiguration()
    var httpLimits = HTTPLimits()
    var httpConnections: (total: Int, perAddress: Int)
    /// nil: 80, or 8080 when 80 cannot be bound; -1: off.
    var requestedHTTPPort: Int?
    var bucket: String
    var external: ExternalStoreConfiguration?
    var cacheBytes: Int64
    var watch: WatchSettings?
    /// Whether hosts no distribution claims stream the default bucket
    /// (`distributions.default`).
    var defaultDistribution: Bool
    /// The control port (`/metrics`, `/health`); -1: off.
    var controlPort: Int
    var controlHost: String
    /// Seconds each access-log file covers (`distributions.log-period`; an hour).
    var accessLogPeriod: Double

    struct WatchSettings {
        var folder: String
        var preset: String
        var prefix: String
        var stableSeconds: Double
        var concurrency: Int
        var presetsDir: String
    }

    init(_ settings: Settings) throws(Settings.Problem) {
        (logLevel, logFormat) = try CommandLogging.choices(settings)

        rtmp.maximumHandshakes = try settings.int("rtmp.max-handshakes", range: 1...1_000_000)
        rtmp.handshakeTimeout = try settings.seconds("rtmp.handshake-timeout")
        rtmp.decoderLimits = ChunkDecoder.Limits(maximumMessageSize: try settings.int("rtmp.max-message-size",
                                                                                      range: 4096...(64 << 20)))
        rtmp.host = settings.string("rtmp.host")
        rtmp.port = try settings.int("rtmp.port", range: 0...65535)
        rtmp.maximumConnections = try settings.int("rtmp.max-connections", range: 1...1_000_000)
        rtmp.session.outgoingChunkSize = try settings.int("rtmp.chunk-size", range: 128...65536)
        switch settings.string("rtmp.bandwidth-check-on-connect") {
        case "true", "yes", "on": rtmp.session.announceBandwidthCheck = true
        case "false", "no", "off": rtmp.session.announceBandwidthCheck = false
        case let other: throw Settings.Problem(description: "rtmp.bandwidth-check-on-connect is true or false, not \(other)")
        }
        rtmp.idleTimeout = try settings.seconds("rtmp.idle-timeout")
        rtmp.pingInterval = min(30, rtmp.idleTimeout / 3)
        rtmp.shutdownGrace = try settings.seconds("shutdown-grace")

        httpConnections = (try settings.int("http.max-connections", range: 1...1_000_000),
                           try settings.int("http.max-connections-per-ip", range: 1...1_000_000))
        httpLimits.headTimeout = .milliseconds(Int64(try settings.seconds("http.head-timeout") * 1000))
        httpLimits.maximumHeaderBytes = try settings.int("http.max-header-bytes", range: 1024...(80 << 10))
        httpLimits.maximumURILength = try settings.int("http.max-uri-bytes", range: 256...(64 << 10))
        requestedHTTPPort = try settings.optionalInt("http.port")
        if let port = requestedHTTPPort, !(-1...65535).contains(port) {
            throw Settings.Problem(description: "'http.port' must be in -1...65535, not \(port)")
        }

        s3.limits = httpLimits
        s3.maximumConnections = httpConnections.total
        s3.maximumConnectionsPerAddress = httpConnections.perAddress
        s3.host = settings.string("s3.host", default: rtmp.host)
        s3.port = try settings.int("s3.port", range: -1...65535)
        s3.region = settings.string("s3.region")
        s3.domains = settings.string("s3.domain").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }

        bucket = settings.string("default-bucket")
        guard ObjectKey.isValidBucketName(bucket) else {
            throw Settings.Problem(description: "default bucket '\(bucket)' is not a valid bucket name (3-63 of a-z, 0-9, '.', '-')")
        }
        switch settings.string("distributions.default").lowercased() {
        case "on", "true", "yes": defaultDistribution = true
        case "off", "false", "no": defaultDistribution = false
        case let other: throw Settings.Problem(description: "distributions.default is on or off, not \(other)")
        }
        accessLogPeriod = try settings.seconds("distributions.log-period")
        controlPort = try settings.int("control.port", range: -1...65535)
        controlHost = settings.string("control.host", default: rtmp.host)
        external = try StoreBackend.external(settings)
        cacheBytes = Int64(try settings.int("store.cache-size-mb", range: 1...100_000_000)) << 20
        // Checked now; resolved again once the RTMP port is bound (it may be 0: any).
        _ = try PublicURL.resolve(settings)

        let watchFolder = settings.string("watch.folder")
        if !watchFolder.isEmpty {
            watch = WatchSettings(folder: watchFolder, preset: settings.string("watch.preset"),
                                  prefix: settings.string("watch.prefix"),
                                  stableSeconds: try settings.seconds("watch.stable-seconds"),
                                  concurrency: try settings.int("jobs.concurrency", range: 1...64),
                                  presetsDir: settings.string("presets-dir"))
        }
    }
}
