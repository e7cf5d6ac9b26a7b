import Foundation
import Logging
import SluiceControl
import SluiceRTMP
import SluiceStore
import Synchronization

/// The access logs of distributions whose `Logging` is enabled: RTMP events in CloudFront's
/// streaming format, HTTP requests to basic distributions in its standard (web) format.
/// One gzip file per distribution per period, stored in the logging bucket under its
/// prefix (private). Recording only appends to a list; a thread of its own writes files.
final class AccessLogs: StreamEventSink {
    let log: StreamingAccessLog
    let period: TimeInterval
    let logger: Logger
    private let targets = Mutex<[String: StreamingAccessLog.Target]>([:])
    private let stopped = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)

    init(store: any ObjectStore, period: TimeInterval, logger: Logger) {
        self.period = period
        self.logger = logger
        log = StreamingAccessLog { target, key, gzip in
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-log-\(UUID().uuidString).gz")
            try gzip.write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            _ = try store.putObject(bucket: target.bucket, key: key, file: file.path, contentType: "application/x-gzip", acl: .private,
                                    metadata: [:])
        }
    }

    /// Which distributions log, and where (from the distributions as they are now).
    func update(_ distributions: [Distribution], s3Domains: [String]) {
        var map: [String: StreamingAccessLog.Target] = [:]
        for distribution in distributions {
            guard let logging = distribution.config.logging, logging.enabled,
                  let bucket = OriginName.bucket(logging.bucket, s3Domains: s3Domains) else { continue }
            map[distribution.id] = StreamingAccessLog.Target(distributionID: distribution.id, bucket: bucket, prefix: logging.prefix,
                                                             header: distribution.kind == .streaming ? StreamingLogEntry.header : WebLogEntry.header)
        }
        targets.withLock { $0 = map }
    }

    func record(_ event: StreamEvent) {
        guard let id = event.distributionID, let target = targets.withLock({ $0[id] }) else { return }
        let (stem, query) = Self.split(event.tcUrl)
        let (name, streamQuery) = Self.split(event.streamName)
        log.record(StreamingLogEntry(time: event.time, clientIP: event.clientIP, event: StreamingLogEntry.Event(rawValue: event.kind.rawValue) ?? .connect,
                                     bytesSent: event.bytesSent, status: event.status, clientID: event.clientID, uriStem: stem, uriQuery: query,
                                     pageURL: event.pageURL, userAgent: event.flashVersion, streamName: name, streamQuery: streamQuery,
                                     fileExtension: name.isEmpty ? "" : Self.fileExtension(name), streamID: event.streamID.map(String.init) ?? ""),
                   for: target)
    }

    /// Whether the distribution has Logging on (a request's entry is made only then).
    func isLogging(_ distributionID: String) -> Bool {
        targets.withLock { $0[distributionID] != nil }
    }

    /// A basic distribution's request (the public HTTP port).
    func record(_ entry: WebLogEntry, distributionID: String) {
        guard let target = targets.withLock({ $0[distributionID] }) else { return }
        log.record(entry, for: target)
    }

    static func split(_ text: String) -> (String, String) {
        guard let mark = text.firstIndex(of: "?") else { return (text, "") }
        return (String(text[..<mark]), String(text[text.index(after: mark)...]))
    }

    static func fileExtension(_ name: String) -> String {
        if let colon = name.firstIndex(of: ":"), ["mp4", "mp3", "flv"].contains(name[..<colon].lowercased()) { return name[..<colon].lowercased() }
        let ext = (name as NSString).pathExtension.lowercased()
        return ext.isEmpty ? "flv" : ext
    }

    /// Writes the files every period, and once more on `stop`.
    func start() {
        let thread = Thread { [self] in
            var next = Date().addingTimeInterval(period)
            while !stopped.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: min(1, max(0.05, next.timeIntervalSinceNow)))
                if Date() >= next {
                    write()
                    next = Date().addingTimeInterval(period)
                }
            }
            write()
            done.signal()
        }
        thread.name = "sluice-access-logs"
        thread.start()
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        _ = done.wait(timeout: .now() + 30)
    }

    private func write() {
        let (written, failures) = log.flush()
        for key in written { logger.debug("access log written: \(key)") }
        for failure in failures { logger.warning("access log not written: \(failure)") }
    }
}
