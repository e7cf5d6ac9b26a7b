import Foundation
import Synchronization

/// A parsed `Range: bytes=…` against an object of `size` bytes.
public enum ByteRange: Equatable, Sendable {
    /// No range, or one S3 and HTTP servers ignore (several ranges, another unit): the whole object.
    case whole
    case partial(ClosedRange<Int64>)
    /// Starts past the end: 416 InvalidRange.
    case unsatisfiable

    public init(header: String?, size: Int64) {
        guard let header, header.lowercased().hasPrefix("bytes=") else { self = .whole; return }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { self = .whole; return }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            guard let suffix = Int64(last), suffix > 0 else { self = suffix0(last, size); return }
            guard size > 0 else { self = .unsatisfiable; return }
            self = .partial(max(0, size - suffix)...(size - 1))
            return
        }
        guard let start = Int64(first), start >= 0 else { self = .whole; return }
        // A last byte before the first makes the range invalid, and an invalid range is
        // ignored (RFC 9110 14.1.1), whatever the object's size.
        let end: Int64? = last.isEmpty ? nil : Int64(last)
        if !last.isEmpty && (end ?? -1) < start { self = .whole; return }
        guard start < size else { self = .unsatisfiable; return }
        self = .partial(start...min(end ?? (size - 1), size - 1))
    }
}

extension HTTPReply {
    /// A file of `size` bytes whole (200), or the part a satisfiable range names (206
    /// with `Content-Range`); nil when the range is unsatisfiable (each surface answers
    /// that its own way).
    public static func file(_ range: ByteRange, size: Int64, headers: [(String, String)], path: String) -> HTTPReply? {
        switch range {
        case .whole:
            return .file(.ok, headers, path: path, range: 0..<max(0, size))
        case .partial(let part):
            return .file(.partialContent, headers + [("Content-Range", "bytes \(part.lowerBound)-\(part.upperBound)/\(size)")],
                         path: path, range: Range(part))
        case .unsatisfiable:
            return nil
        }
    }
}

private func suffix0(_ text: Substring, _ size: Int64) -> ByteRange {
    // `bytes=-0` asks for nothing: unsatisfiable; anything unreadable is ignored.
    Int64(text) == 0 ? .unsatisfiable : .whole
}

/// A GET's conditional headers against a representation's ETag and modification time,
/// in the order S3 (and RFC 9110 13.2.2) evaluates them: If-Match, If-Unmodified-Since,
/// If-None-Match, If-Modified-Since.
public enum HTTPConditions {
    public enum Outcome: Equatable, Sendable {
        case proceed
        /// 304: the client's copy is current.
        case notModified
        /// 412.
        case preconditionFailed
    }

    /// `header` looks a request header up by lower-case name; `etag` is unquoted.
    public static func evaluate(etag: String, lastModified: Date, header: (String) -> String?) -> Outcome {
        let modified = lastModified.timeIntervalSince1970.rounded(.down)
        if let match = header("if-match") {
            if !etagList(match).contains(where: { $0 == "*" || $0 == etag }) { return .preconditionFailed }
        } else if let since = header("if-unmodified-since").flatMap(HTTPDate.parseHTTP), modified > since.timeIntervalSince1970 {
            return .preconditionFailed
        }
        if let noneMatch = header("if-none-match") {
            if etagList(noneMatch).contains(where: { $0 == "*" || $0 == etag }) { return .notModified }
        } else if let since = header("if-modified-since").flatMap(HTTPDate.parseHTTP), modified <= since.timeIntervalSince1970 {
            return .notModified
        }
        return .proceed
    }

    /// The entity tags of an If-Match or If-None-Match list, unquoted, weak or not.
    public static func etagList(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.replacingOccurrences(of: "W/", with: "").trimmingCharacters(in: CharacterSet(charactersIn: "\" ")) }
    }
}

/// The two date forms S3 uses, formatted without DateFormatter (not safe to share
/// across threads, and slow).
public enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private static func parts(_ date: Date) -> tm {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return parts
    }

    private static func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }

    /// `2026-11-25T10:00:00.000Z`, for XML bodies.
    public static func iso8601(_ date: Date) -> String {
        let p = parts(date)
        let millis = Int((date.timeIntervalSince1970 - date.timeIntervalSince1970.rounded(.down)) * 1000)
        let millisText = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(p.tm_year + 1900)-\(two(p.tm_mon + 1))-\(two(p.tm_mday))T\(two(p.tm_hour)):\(two(p.tm_min)):\(two(p.tm_sec)).\(millisText)Z"
    }

    /// `Wed, 25 Nov 2026 10:00:00 GMT`, for headers.
    /// Now in the HTTP form, formatted once per second (every response carries it).
    public static func now() -> String {
        let second = Int(Date().timeIntervalSince1970)
        return current.withLock { cached in
            if cached.second != second { cached = (second, http(Date(timeIntervalSince1970: TimeInterval(second)))) }
            return cached.text
        }
    }

    private static let current = Mutex<(second: Int, text: String)>((0, ""))

    public static func http(_ date: Date) -> String {
        let p = parts(date)
        return "\(days[Int(p.tm_wday)]), \(two(p.tm_mday)) \(months[Int(p.tm_mon)]) \(p.tm_year + 1900) \(two(p.tm_hour)):\(two(p.tm_min)):\(two(p.tm_sec)) GMT"
    }

    /// `20261125T100000Z`, SigV4's x-amz-date.
    public static func amz(_ date: Date) -> String {
        let p = parts(date)
        return "\(p.tm_year + 1900)\(two(p.tm_mon + 1))\(two(p.tm_mday))T\(two(p.tm_hour))\(two(p.tm_min))\(two(p.tm_sec))Z"
    }

    /// Parses SigV4's `20261125T100000Z`: exactly 16 ASCII characters; nil for anything
    /// else. (Foundation's DateFormatter traps on some non-ASCII text, and this is read
    /// from every signed request.)
    public static func parseAMZ(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            var value: Int32 = 0
            for byte in bytes[range] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int32(byte - 0x30)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8), let hour = number(9..<11),
              let minute = number(11..<13), let second = number(13..<15)
        else { return nil }
        return date(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    /// Parses the header form (RFC 1123); nil for anything else.
    public static func parseHTTP(_ text: String) -> Date? {
        let fields = text.split(separator: " ")
        guard fields.count == 6, fields[5] == "GMT", let day = Int32(fields[1]), let month = months.firstIndex(of: String(fields[2])),
              let year = Int32(fields[3])
        else { return nil }
        let clock = fields[4].split(separator: ":").compactMap { Int32($0) }
        guard clock.count == 3 else { return nil }
        return date(year: year, month: Int32(month) + 1, day: day, hour: clock[0], minute: clock[1], second: clock[2])
    }

    /// The UTC date of calendar fields from outside, nil when any is out of range; checked
    /// before any arithmetic on them (year - 1900 overflows for a year near Int32.min).
    private static func date(year: Int32, month: Int32, day: Int32, hour: Int32, minute: Int32, second: Int32) -> Date? {
        guard (1...9999).contains(year), (1...12).contains(month), (1...31).contains(day), (0...23).contains(hour),
              (0...59).contains(minute), (0...60).contains(second)
        else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    /// Parses the XML form, `2026-11-25T10:00:00.000Z` (milliseconds optional); nil for anything else.
    public static func parseISO8601(_ text: String) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasSuffix("Z") else { return nil }
        let fields = trimmed.dropLast().split(whereSeparator: { "-T:".contains($0) })
        guard fields.count == 6, let year = Int32(fields[0]), let month = Int32(fields[1]), let day = Int32(fields[2]),
              let hour = Int32(fields[3]), let minute = Int32(fields[4]), let seconds = Double(fields[5]),
              seconds >= 0, seconds < 61,
              let whole = date(year: year, month: month, day: day, hour: hour, minute: minute, second: Int32(seconds.rounded(.down)))
        else { return nil }
        return whole.addingTimeInterval(seconds - seconds.rounded(.down))
    }
}

/// The host a request is for, as distributions are looked up: the `Host` header
/// lower-cased, without its port (`Media.Example.com:8080` → `media.example.com`; an
/// IPv6 literal keeps its brackets); "" without one.
public enum HostHeader {
    public static func name(_ header: String?) -> String {
        guard var host = header?.lowercased() else { return "" }
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") { return String(host[...close]) }
        if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        return host
    }
}
