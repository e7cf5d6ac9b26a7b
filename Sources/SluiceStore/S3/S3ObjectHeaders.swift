import Foundation
import NIOHTTP1

/// What an object's headers carry in and out: user metadata, the representation headers
/// S3 stores, a PUT's conditions.
extension S3RequestHandler {
    /// `x-amz-meta-*`, names lower-cased; a value that is an RFC 2047 encoded word (how
    /// clients send non-ASCII text in a header) is stored decoded, as S3 does.
    static func userMetadata(_ headers: HTTPHeaders) -> [String: String] {
        var metadata: [String: String] = [:]
        for header in headers where header.name.lowercased().hasPrefix("x-amz-meta-") {
            metadata[String(header.name.lowercased().dropFirst("x-amz-meta-".count))] = decodedWord(header.value) ?? header.value
        }
        return metadata
    }

    /// The text of `=?UTF-8?B?…?=` or `=?UTF-8?Q?…?=`; nil for anything else.
    static func decodedWord(_ value: String) -> String? {
        let parts = value.split(separator: "?", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "=", parts[4] == "=", parts[1].lowercased() == "utf-8" else { return nil }
        let bytes: [UInt8]?
        switch parts[2].uppercased() {
        case "B":
            bytes = Data(base64Encoded: String(parts[3])).map { [UInt8]($0) }
        case "Q":
            var decoded: [UInt8] = []
            var text = parts[3].utf8[...]
            while let byte = text.popFirst() {
                if byte == UInt8(ascii: "_") {
                    decoded.append(0x20)
                } else if byte == UInt8(ascii: "="), text.count >= 2, let value = UInt8(String(decoding: text.prefix(2), as: UTF8.self), radix: 16) {
                    decoded.append(value)
                    text = text.dropFirst(2)
                } else {
                    decoded.append(byte)
                }
            }
            bytes = decoded
        default:
            bytes = nil
        }
        return bytes.flatMap { String(validating: $0, as: UTF8.self) }
    }

    static func unquote(_ text: String) -> String { text.trimmingCharacters(in: CharacterSet(charactersIn: "\" ")) }

    /// The representation headers a PUT sets, to store with the object. `aws-chunked` is
    /// how the body travelled, not what it is: S3 drops it from Content-Encoding.
    static func storedHeaders(_ headers: HTTPHeaders) -> [String: String] {
        var stored: [String: String] = [:]
        for name in StoredHeader.names {
            guard var value = headers.first(name: name) else { continue }
            if name == "Content-Encoding" {
                value = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { $0.lowercased() != "aws-chunked" && !$0.isEmpty }.joined(separator: ", ")
                if value.isEmpty { continue }
            }
            stored[name] = value
        }
        return stored
    }

    /// A PUT's If-None-Match or If-Match (an ETag, or `*` for any object).
    static func writeCondition(_ call: S3Call) throws -> WriteCondition? {
        if let noneMatch = call.header("if-none-match") {
            let etag = unquote(noneMatch)
            return etag == "*" ? .absent : .notMatching(etag: etag)
        }
        return call.header("if-match").map { unquote($0) == "*" ? .present : .matching(etag: unquote($0)) }
    }

    /// The conditions of a DELETE; nil when it names none.
    static func deleteCondition(_ call: S3Call) throws -> DeleteCondition? {
        var condition = DeleteCondition()
        condition.etag = call.header("if-match").map(unquote)
        if let text = call.header("x-amz-if-match-last-modified-time") {
            guard let date = S3Date.parseHTTP(text) ?? S3Date.parseISO8601(text) else {
                throw S3Error.invalidArgument("x-amz-if-match-last-modified-time is not a date")
            }
            condition.lastModified = date
        }
        if let text = call.header("x-amz-if-match-size") {
            guard let size = Int64(text), size >= 0 else { throw S3Error.invalidArgument("x-amz-if-match-size is not a size") }
            condition.size = size
        }
        return condition == DeleteCondition() ? nil : condition
    }

    /// A metadata value as a header can carry it: non-ASCII text RFC 2047-encoded
    /// (`=?UTF-8?B?…?=`), as S3 returns it.
    static func headerSafe(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 >= 0x80 || ($0 < 0x20 && $0 != 0x09) }) else { return value }
        return "=?UTF-8?B?" + Data(value.utf8).base64EncodedString() + "?="
    }
}
