import CZlib
import Foundation
import Synchronization

/// One line of a streaming distribution's access log: CloudFront's streaming format
/// (W3C extended), one event of one connection.
public struct StreamingLogEntry: Sendable, Equatable {
    public enum Event: String, Sendable {
        case connect, play, seek, pause, unpause, stop, disconnect
    }

    public var time: Date
    public var clientIP: String
    public var event: Event
    /// Bytes the server has sent on the connection so far.
    public var bytesSent: UInt64
    /// `OK`, or what went wrong (CloudFront put the NetStream/NetConnection code here).
    public var status: String
    public var clientID: String
    /// The tcUrl without its query, and its query.
    public var uriStem: String
    public var uriQuery: String
    public var referrer: String
    public var pageURL: String
    public var userAgent: String
    /// For stream events: the stream name, its query, its file extension, its stream id.
    public var streamName: String
    public var streamQuery: String
    public var fileExtension: String
    public var streamID: String

    public init(time: Date, clientIP: String, event: Event, bytesSent: UInt64, status: String = "OK", clientID: String, uriStem: String,
                uriQuery: String = "", referrer: String = "", pageURL: String = "", userAgent: String = "", streamName: String = "",
                streamQuery: String = "", fileExtension: String = "", streamID: String = "") {
        self.time = time
        self.clientIP = clientIP
        self.event = event
        self.bytesSent = bytesSent
        self.status = status
        self.clientID = clientID
        self.uriStem = uriStem
        self.uriQuery = uriQuery
        self.referrer = referrer
        self.pageURL = pageURL
        self.userAgent = userAgent
        self.streamName = streamName
        self.streamQuery = streamQuery
        self.fileExtension = fileExtension
        self.streamID = streamID
    }

    public static let fields = ["date", "time", "x-edge-location", "c-ip", "x-event", "sc-bytes", "x-cf-status", "x-cf-client-id",
                                "cs-uri-stem", "cs-uri-query", "c-referrer", "x-page-url", "c-user-agent", "x-sname", "x-sname-query",
                                "x-file-ext", "x-sid"]

    /// The two header lines each file starts with.
    public static let header = "#Version: 1.0\n#Fields: " + fields.joined(separator: " ") + "\n"

    /// The line: tab-separated, `-` for an empty field, and values URL-encoded the way
    /// CloudFront encoded them (spaces, tabs and anything outside printable ASCII).
    public func line(edgeLocation: String) -> String {
        let (day, clock) = Self.dateAndTime(time)
        let values = [day, clock, edgeLocation, clientIP, event.rawValue, String(bytesSent), status, clientID, uriStem, uriQuery, referrer,
                      pageURL, userAgent, streamName, streamQuery, fileExtension, streamID]
        return values.map(Self.field).joined(separator: "\t") + "\n"
    }

    static func field(_ value: String) -> String {
        guard !value.isEmpty else { return "-" }
        var encoded = ""
        for byte in value.utf8 {
            if byte > 0x20, byte < 0x7F, byte != 0x25 {
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                encoded += String(format: "%%%02X", byte)
            }
        }
        return encoded
    }

    static func dateAndTime(_ date: Date) -> (String, String) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return (String(format: "%04d-%02d-%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday)),
                String(format: "%02d:%02d:%02d", Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec)))
    }
}

/// Collects the entries of every distribution that logs (streaming or web format), and every `period` (an hour by
/// default, as CloudFront did) hands each distribution's lines, gzipped, to `deliver`
/// as one file. `record` only appends under a lock: a play never waits on a log.
public final class StreamingAccessLog: Sendable {
    public struct Target: Sendable, Equatable {
        public var distributionID: String
        public var bucket: String
        public var prefix: String
        /// The two header lines of its files: the streaming or the web (standard) format.
        public var header: String

        public init(distributionID: String, bucket: String, prefix: String, header: String = StreamingLogEntry.header) {
            self.distributionID = distributionID
            self.bucket = bucket
            self.prefix = prefix
            self.header = header
        }
    }

    /// The file to store: `PREFIX` + `ID.YYYY-MM-DD-HH.UNIQUE.gz`, as CloudFront named them.
    public typealias Delivery = @Sendable (_ target: Target, _ key: String, _ gzip: Data) throws -> Void

    let edgeLocation: String
    let deliver: Delivery
    /// Lines kept per distribution before the oldest go (a period with a flood of
    /// connections must not hold the memory of the server).
    let maximumPending: Int
    private let pending = Mutex<[String: (target: Target, lines: [String], dropped: Int)]>([:])

    public init(edgeLocation: String = "SLC1", maximumPending: Int = 1_000_000, deliver: @escaping Delivery) {
        self.edgeLocation = edgeLocation
        self.maximumPending = maximumPending
        self.deliver = deliver
    }

    public func record(_ entry: StreamingLogEntry, for target: Target) {
        record(line: entry.line(edgeLocation: edgeLocation), for: target)
    }

    public func record(_ entry: WebLogEntry, for target: Target) {
        record(line: entry.line(edgeLocation: edgeLocation), for: target)
    }

    func record(line: String, for target: Target) {
        pending.withLock { pending in
            var bucket = pending[target.distributionID] ?? (target, [], 0)
            bucket.target = target
            if bucket.lines.count >= maximumPending {
                bucket.dropped += 1
            } else {
                bucket.lines.append(line)
            }
            pending[target.distributionID] = bucket
        }
    }

    /// Writes what was collected: one gzip file per distribution. Returns the keys
    /// written; a delivery that fails keeps nothing back (logs are best effort, the
    /// error is the caller's to log).
    @discardableResult
    public func flush(now: Date = Date()) -> (written: [String], failures: [String]) {
        let taken = pending.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
        var written: [String] = [], failures: [String] = []
        let (day, clock) = StreamingLogEntry.dateAndTime(now)
        let hour = day + "-" + clock.prefix(2)
        for (id, collected) in taken.sorted(by: { $0.key < $1.key }) where !collected.lines.isEmpty {
            var text = collected.target.header + collected.lines.joined()
            if collected.dropped > 0 { text += "#Dropped: \(collected.dropped) entries over the limit of this file\n" }
            let unique = String(UInt32.random(in: .min ... .max), radix: 16)
            let key = collected.target.prefix + "\(id).\(hour).\(unique).gz"
            do {
                try deliver(collected.target, key, try Gzip.compress(Data(text.utf8)))
                written.append(key)
            } catch {
                failures.append("\(key): \(error)")
            }
        }
        return (written, failures)
    }
}

/// gzip (RFC 1952) through zlib.
public enum Gzip {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func compress(_ data: Data) throws -> Data {
        var stream = z_stream()
        // 15 window bits + 16: a gzip header and trailer rather than zlib's.
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw Failure(description: "deflateInit2 failed") }
        defer { deflateEnd(&stream) }
        var output = Data()
        var input = [UInt8](data)
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let status: Int32 = input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            var result = Z_OK
            repeat {
                chunk.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = uInt(target.count)
                    result = deflate(&stream, Z_FINISH)
                    output.append(target.baseAddress!, count: target.count - Int(stream.avail_out))
                }
            } while result == Z_OK
            return result
        }
        guard status == Z_STREAM_END else { throw Failure(description: "deflate failed (\(status))") }
        return output
    }
}
