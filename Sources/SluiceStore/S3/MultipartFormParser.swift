import Foundation
import NIOCore

/// A streaming `multipart/form-data` parser (RFC 7578) for browser form uploads: fed the
/// body as it arrives, it says where parts start (with their headers), hands on their
/// bytes and says where they end. A part's bytes are never held back beyond a possible
/// delimiter's length, so a file streams through in constant memory; a part's header
/// block is bounded.
///
/// Written here rather than taken from MultipartKit (4.7.1): its parser indexes a
/// 128-entry table with any byte of a part's header name, so one byte above 0x7F traps
/// the process, and a trap cannot be caught.
struct MultipartFormParser {
    enum Event: Equatable {
        case partStarted(headers: [Header])
        case body(ByteBuffer)
        case partEnded
    }

    struct Header: Equatable {
        var name: String
        var value: String
    }

    struct Malformed: Error, Equatable {
        var reason: String
    }

    /// The most a part's header block may take.
    static let headerLimit = 16 * 1024

    private enum State {
        /// Before the first delimiter: anything there is ignored.
        case preamble
        /// Just after a delimiter: `--` ends the body, a line break starts a part.
        case afterDelimiter
        case headers
        case body
        case finished
    }

    /// `\r\n--BOUNDARY`: what ends a part's body (the first delimiter may lack the `\r\n`).
    private let delimiter: [UInt8]
    private var state = State.preamble
    private var pending: [UInt8] = []
    /// Nothing has been looked at yet: only there may the delimiter lack its line break.
    private var atStart = true

    /// `boundary` is 1 to 70 characters (RFC 2046); nil otherwise.
    init?(boundary: String) {
        guard (1...70).contains(boundary.utf8.count) else { return nil }
        delimiter = Array("\r\n--\(boundary)".utf8)
    }

    var isFinished: Bool { if case .finished = state { true } else { false } }

    mutating func feed(_ bytes: ByteBuffer) throws(Malformed) -> [Event] {
        guard !isFinished else { return [] }
        pending.append(contentsOf: bytes.readableBytesView)
        var events: [Event] = []
        var offset = 0
        defer { pending.removeFirst(offset) }
        while true {
            switch state {
            case .preamble:
                // The first delimiter may start the body without its line break.
                if atStart {
                    guard pending.count >= delimiter.count - 2 else { return events }
                    atStart = false
                    if pending.starts(with: delimiter.dropFirst(2)) {
                        offset = delimiter.count - 2
                        state = .afterDelimiter
                        continue
                    }
                }
                if let found = find(delimiter, from: offset) {
                    offset = found + delimiter.count
                    state = .afterDelimiter
                } else {
                    // Keep what could still be the start of a delimiter.
                    offset = max(offset, pending.count - delimiter.count)
                    return events
                }
            case .afterDelimiter:
                guard pending.count - offset >= 2 else { return events }
                if pending[offset] == UInt8(ascii: "-"), pending[offset + 1] == UInt8(ascii: "-") {
                    state = .finished
                    offset = pending.count
                    return events
                }
                // Transport padding (spaces, tabs) may follow a delimiter before its CRLF.
                guard let lineEnd = find([13, 10], from: offset) else {
                    guard pending.count - offset <= 256 else { throw Malformed(reason: "a delimiter line runs on") }
                    return events
                }
                guard pending[offset..<lineEnd].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else {
                    throw Malformed(reason: "text after a delimiter")
                }
                offset = lineEnd + 2
                state = .headers
            case .headers:
                guard pending.count - offset >= 2 else { return events }
                if pending[offset] == 13, pending[offset + 1] == 10 {  // a part without headers
                    events.append(.partStarted(headers: []))
                    offset += 2
                    state = .body
                    continue
                }
                guard let end = find([13, 10, 13, 10], from: offset) else {
                    guard pending.count - offset <= Self.headerLimit else { throw Malformed(reason: "a part's headers are over 16 KB") }
                    return events
                }
                guard end - offset <= Self.headerLimit else { throw Malformed(reason: "a part's headers are over 16 KB") }
                events.append(.partStarted(headers: try Self.headers(pending[offset..<end])))
                offset = end + 4
                state = .body
            case .body:
                if let found = find(delimiter, from: offset) {
                    if found > offset { events.append(.body(ByteBuffer(bytes: pending[offset..<found]))) }
                    events.append(.partEnded)
                    offset = found + delimiter.count
                    state = .afterDelimiter
                } else {
                    // All but what could be the start of a delimiter goes on.
                    let safe = max(offset, pending.count - (delimiter.count - 1))
                    if safe > offset { events.append(.body(ByteBuffer(bytes: pending[offset..<safe]))) }
                    offset = safe
                    return events
                }
            case .finished:
                offset = pending.count
                return events
            }
        }
    }

    /// Where `needle` first occurs in the pending bytes at or after `start`.
    private func find(_ needle: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, pending.count - start >= needle.count else { return nil }
        var index = start
        let last = pending.count - needle.count
        while index <= last {
            guard let candidate = pending[index...last].firstIndex(of: first) else { return nil }
            if pending[candidate..<candidate + needle.count].elementsEqual(needle) { return candidate }
            index = candidate + 1
        }
        return nil
    }

    /// `Name: value` lines; names are tokens, values any text without line breaks.
    private static func headers(_ block: ArraySlice<UInt8>) throws(Malformed) -> [Header] {
        var headers: [Header] = []
        for line in block.split(separator: 10, omittingEmptySubsequences: true) {
            var line = line
            if line.last == 13 { line = line.dropLast() }
            guard !line.isEmpty else { continue }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                  line[..<colon].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw Malformed(reason: "a part header is not Name: value")
            }
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: " \t"))
            headers.append(Header(name: String(decoding: line[..<colon], as: UTF8.self), value: value))
        }
        return headers
    }
}
