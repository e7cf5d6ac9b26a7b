import Crypto
import Foundation

/// Decodes an `aws-chunked` request body as it streams in:
///
///     SIZE-HEX[;chunk-signature=SIG]\r\n DATA \r\n  …  0[;chunk-signature=SIG]\r\n [TRAILER\r\n]* \r\n
///
/// With `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` each chunk carries a signature chained from
/// the previous one (the first from the Authorization header's), so a chunk cannot be
/// altered, dropped or reordered; `STREAMING-UNSIGNED-PAYLOAD-TRAILER` (botocore over
/// HTTPS) has bare sizes and a checksum trailer at the end. Pure: bytes in, data out.
public struct AWSChunkedDecoder {
    public struct Signing {
        public var key: SymmetricKey
        public var amzDate: String
        public var scope: SignatureV4.Scope
        /// The Authorization header's signature, which the first chunk's chains from.
        public var seedSignature: String

        public init(key: SymmetricKey, amzDate: String, scope: SignatureV4.Scope, seedSignature: String) {
            self.key = key
            self.amzDate = amzDate
            self.scope = scope
            self.seedSignature = seedSignature
        }
    }

    public struct Failure: Error, Equatable, CustomStringConvertible {
        public enum Kind: Equatable, Sendable { case malformed, signatureDoesNotMatch }
        public var kind: Kind
        public var message: String
        public var description: String { message }
    }

    private enum State {
        case sizeLine
        case data(remaining: Int)
        case dataEnd
        case trailers
        case done
    }

    private let signing: Signing?
    private var previousSignature: String
    private var state = State.sizeLine
    private var line: [UInt8] = []
    private var chunkSignature: String?
    private var chunkHash = SHA256()
    /// Trailing headers (`x-amz-checksum-crc32:…`), names lower-cased.
    public private(set) var trailers: [(name: String, value: String)] = []
    public private(set) var decodedLength: Int64 = 0
    public var isComplete: Bool { if case .done = state { return true } else { return false } }

    /// Header lines are short; anything longer is not aws-chunked.
    static let maximumLine = 4096

    public init(signing: Signing?) {
        self.signing = signing
        previousSignature = signing?.seedSignature ?? ""
    }

    /// Consumes `bytes`, handing each piece of decoded data to `emit`.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        var index = 0
        while index < bytes.count {
            switch state {
            case .data(let remaining):
                let take = min(remaining, bytes.count - index)
                let piece = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)])
                if signing != nil { chunkHash.update(bufferPointer: piece) }
                try emit(piece)
                decodedLength += Int64(take)
                index += take
                state = take == remaining ? .dataEnd : .data(remaining: remaining - take)
            case .done:
                throw Failure(kind: .malformed, message: "aws-chunked body has bytes after its final chunk")
            case .sizeLine, .dataEnd, .trailers:
                let byte = bytes[index]
                index += 1
                guard byte == UInt8(ascii: "\n") else {
                    line.append(byte)
                    if line.count > Self.maximumLine { throw Failure(kind: .malformed, message: "aws-chunked header line too long") }
                    continue
                }
                guard line.last == UInt8(ascii: "\r") else { throw Failure(kind: .malformed, message: "aws-chunked line does not end in CRLF") }
                line.removeLast()
                let text = String(decoding: line, as: UTF8.self)
                line.removeAll(keepingCapacity: true)
                try endOfLine(text)
            }
        }
    }

    private mutating func endOfLine(_ text: String) throws {
        switch state {
        case .dataEnd:
            guard text.isEmpty else { throw Failure(kind: .malformed, message: "aws-chunked chunk is longer than its size") }
            try verifyChunk()
            state = .sizeLine
        case .sizeLine:
            let parts = text.split(separator: ";", maxSplits: 1)
            guard let sizeText = parts.first, let size = Int(sizeText, radix: 16), size >= 0 else {
                throw Failure(kind: .malformed, message: "aws-chunked size line '\(text.prefix(80))' is not hex")
            }
            chunkSignature = nil
            if parts.count == 2 {
                let extensionText = parts[1]
                guard extensionText.hasPrefix("chunk-signature=") else {
                    throw Failure(kind: .malformed, message: "unknown aws-chunked extension '\(extensionText.prefix(80))'")
                }
                chunkSignature = String(extensionText.dropFirst("chunk-signature=".count))
            }
            if signing != nil && chunkSignature == nil {
                throw Failure(kind: .malformed, message: "aws-chunked chunk has no chunk-signature")
            }
            chunkHash = SHA256()
            if size == 0 {
                try verifyChunk()
                state = .trailers
            } else {
                state = .data(remaining: size)
            }
        case .trailers:
            if text.isEmpty {
                state = .done
                return
            }
            guard let colon = text.firstIndex(of: ":") else {
                throw Failure(kind: .malformed, message: "aws-chunked trailer '\(text.prefix(80))' has no ':'")
            }
            let name = text[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "x-amz-trailer-signature" {
                try verifyTrailer(signature: value)
            } else {
                trailers.append((name, value))
            }
        case .data, .done:
            break
        }
    }

    private mutating func verifyChunk() throws {
        guard let signing, let given = chunkSignature else { return }
        let text = ["AWS4-HMAC-SHA256-PAYLOAD", signing.amzDate, signing.scope.text, previousSignature,
                    SignatureV4.emptyPayloadHash, SignatureV4.hex(chunkHash.finalize())].joined(separator: "\n")
        let expected = SignatureV4.signature(key: signing.key, stringToSign: text)
        guard SignatureV4.constantTimeEqual(expected, given) else {
            throw Failure(kind: .signatureDoesNotMatch, message: "an aws-chunked chunk signature does not match")
        }
        previousSignature = expected
    }

    /// STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER signs the trailer lines too.
    private mutating func verifyTrailer(signature given: String) throws {
        guard let signing else { return }
        let canonical = trailers.map { "\($0.name):\($0.value)\n" }.joined()
        let text = ["AWS4-HMAC-SHA256-TRAILER", signing.amzDate, signing.scope.text, previousSignature,
                    SignatureV4.hex(SHA256.hash(data: Data(canonical.utf8)))].joined(separator: "\n")
        guard SignatureV4.constantTimeEqual(SignatureV4.signature(key: signing.key, stringToSign: text), given) else {
            throw Failure(kind: .signatureDoesNotMatch, message: "the aws-chunked trailer signature does not match")
        }
    }
}
