import Crypto
import Foundation

/// AWS Signature Version 4 as S3 uses it: verifying the requests the S3 API receives
/// (Authorization header, presigned URLs, aws-chunked bodies) and signing the requests
/// the external S3 backend sends. Pure: no sockets, no clock of its own.
public enum SignatureV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    public static let streamingPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// A request as it arrived (or will be sent): the path still percent-encoded as on
    /// the wire, the query decoded, header names in any case.
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var query: [(name: String, value: String)]
        public var headers: [(name: String, value: String)]

        public init(method: String, path: String, query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = []) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
        }

        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    /// The credential scope: date (YYYYMMDD), region, service.
    public struct Scope: Equatable, Sendable {
        public var date: String
        public var region: String
        public var service: String

        public var text: String { "\(date)/\(region)/\(service)/aws4_request" }
    }

    /// A parsed `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
    public struct Authorization: Equatable, Sendable {
        public var accessKey: String
        public var scope: Scope
        public var signedHeaders: [String]
        public var signature: String

        public init?(_ header: String) {
            guard header.hasPrefix(algorithm + " ") else { return nil }
            var fields: [String: String] = [:]
            for part in header.dropFirst(algorithm.count + 1).split(separator: ",") {
                let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
            }
            guard let credential = fields["Credential"], let signed = fields["SignedHeaders"], let signature = fields["Signature"] else { return nil }
            let parts = credential.split(separator: "/").map(String.init)
            guard parts.count == 5, parts[4] == "aws4_request" else { return nil }
            accessKey = parts[0]
            scope = Scope(date: parts[1], region: parts[2], service: parts[3])
            signedHeaders = signed.split(separator: ";").map(String.init)
            self.signature = signature
        }
    }

    public enum Failure: Error, Equatable, Sendable {
        /// No or unreadable credentials: S3's AccessDenied / AuthorizationHeaderMalformed.
        case malformed(String)
        /// The access key is unknown: InvalidAccessKeyId.
        case unknownAccessKey(String)
        /// The signature is wrong: SignatureDoesNotMatch.
        case signatureDoesNotMatch
        /// A presigned URL past its time: AccessDenied "Request has expired".
        case expired
    }

    // MARK: Canonical forms

    /// RFC 3986 unreserved characters pass; everything else is %XX, upper-case hex.
    public static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var output = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                output.append("/")
            default:
                output += String(format: "%%%02X", byte)
            }
        }
        return output
    }

    /// S3 encodes the path once: decode what the client sent, then encode by the rules.
    static func canonicalPath(_ path: String) -> String {
        let decoded = path.removingPercentEncoding ?? path
        return encode(decoded.isEmpty ? "/" : decoded, keepSlash: true)
    }

    static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        let encoded: [(String, String)] = query.map { (encode($0.name), encode($0.value)) }
        let sorted = encoded.sorted { (a: (String, String), b: (String, String)) -> Bool in
            a.0 == b.0 ? a.1 < b.1 : a.0 < b.0
        }
        return sorted.map { pair -> String in pair.0 + "=" + pair.1 }.joined(separator: "&")
    }

    /// Trimmed, with runs of spaces folded to one.
    static func canonicalValue(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    /// `path`: the canonical path when it is not S3's (other services encode it twice).
    public static func canonicalRequest(_ request: Request, signedHeaders: [String], payloadHash: String, path: String? = nil) -> String {
        let signed = signedHeaders.map { $0.lowercased() }.sorted()
        var headerLines = ""
        for name in signed {
            let values = request.headers.filter { $0.name.lowercased() == name }.map { canonicalValue($0.value) }
            headerLines += "\(name):\(values.joined(separator: ","))\n"
        }
        return [request.method.uppercased(), path ?? canonicalPath(request.path), canonicalQuery(request.query), headerLines,
                signed.joined(separator: ";"), payloadHash].joined(separator: "\n")
    }

    public static func stringToSign(amzDate: String, scope: Scope, canonicalRequest: String) -> String {
        [algorithm, amzDate, scope.text, hex(SHA256.hash(data: Data(canonicalRequest.utf8)))].joined(separator: "\n")
    }

    public static func signingKey(secret: String, scope: Scope) -> SymmetricKey {
        var key = SymmetricKey(data: Data(("AWS4" + secret).utf8))
        for part in [scope.date, scope.region, scope.service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return key
    }

    public static func signature(key: SymmetricKey, stringToSign: String) -> String {
        hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
    }

    static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// Compares without leaking where two signatures first differ.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    // MARK: Verifying

    /// Checks a request signed in its Authorization header. `secret` looks up an access
    /// key's secret. Returns the access key and the parsed authorization (whose signature
    /// seeds aws-chunked bodies).
    public static func verify(_ request: Request, secret: (String) -> String?) -> Result<Authorization, Failure> {
        guard let header = request.header("authorization"), let authorization = Authorization(header) else {
            return .failure(.malformed("missing or malformed AWS4-HMAC-SHA256 Authorization header"))
        }
        guard let key = secret(authorization.accessKey) else { return .failure(.unknownAccessKey(authorization.accessKey)) }
        guard let amzDate = request.header("x-amz-date"), amzDate.hasPrefix(authorization.scope.date) else {
            return .failure(.malformed("x-amz-date is missing or does not match the credential scope"))
        }
        guard authorization.signedHeaders.contains("host") else { return .failure(.malformed("the host header must be signed")) }
        let payload = request.header("x-amz-content-sha256") ?? emptyPayloadHash
        let canonical = canonicalRequest(request, signedHeaders: authorization.signedHeaders, payloadHash: payload)
        let expected = signature(key: signingKey(secret: key, scope: authorization.scope),
                                 stringToSign: stringToSign(amzDate: amzDate, scope: authorization.scope, canonicalRequest: canonical))
        return constantTimeEqual(expected, authorization.signature) ? .success(authorization) : .failure(.signatureDoesNotMatch)
    }

    /// Checks a request to a service other than S3 (the control API's `cloudfront`), as
    /// that service would: the credential scope must name it, the payload hash is the
    /// body's own (such clients sign it but send no x-amz-content-sha256), the path is
    /// encoded twice, and x-amz-date must be within `allowedSkew` of `now`.
    public static func verify(_ request: Request, service: String, body: [UInt8], now: Date, allowedSkew: TimeInterval,
                              secret: (String) -> String?) -> Result<Authorization, Failure> {
        guard let header = request.header("authorization"), let authorization = Authorization(header) else {
            return .failure(.malformed("missing or malformed AWS4-HMAC-SHA256 Authorization header"))
        }
        guard authorization.scope.service == service else {
            return .failure(.malformed("the credential scope names service '\(authorization.scope.service.prefix(40))', not '\(service)'"))
        }
        guard let key = secret(authorization.accessKey) else { return .failure(.unknownAccessKey(authorization.accessKey)) }
        guard let amzDate = request.header("x-amz-date"), amzDate.hasPrefix(authorization.scope.date), let signedAt = date(amzDate) else {
            return .failure(.malformed("x-amz-date is missing or does not match the credential scope"))
        }
        guard abs(now.timeIntervalSince(signedAt)) <= allowedSkew else { return .failure(.expired) }
        guard authorization.signedHeaders.contains("host") else { return .failure(.malformed("the host header must be signed")) }
        let decoded = request.path.removingPercentEncoding ?? request.path
        let path = encode(encode(decoded.isEmpty ? "/" : decoded, keepSlash: true), keepSlash: true)
        let canonical = canonicalRequest(request, signedHeaders: authorization.signedHeaders, payloadHash: hex(SHA256.hash(data: body)), path: path)
        let expected = signature(key: signingKey(secret: key, scope: authorization.scope),
                                 stringToSign: stringToSign(amzDate: amzDate, scope: authorization.scope, canonicalRequest: canonical))
        return constantTimeEqual(expected, authorization.signature) ? .success(authorization) : .failure(.signatureDoesNotMatch)
    }

    /// Checks a presigned URL (X-Amz-* query parameters) at time `now`.
    public static func verifyPresigned(_ request: Request, now: Date, secret: (String) -> String?) -> Result<String, Failure> {
        func parameter(_ name: String) -> String? { request.query.first { $0.name == name }?.value }
        guard parameter("X-Amz-Algorithm") == algorithm, let credential = parameter("X-Amz-Credential"),
              let amzDate = parameter("X-Amz-Date"), let signed = parameter("X-Amz-SignedHeaders"),
              let given = parameter("X-Amz-Signature"), let expires = parameter("X-Amz-Expires").flatMap(Int.init)
        else { return .failure(.malformed("incomplete presigned URL")) }
        let parts = credential.split(separator: "/").map(String.init)
        guard parts.count == 5, parts[4] == "aws4_request", let issued = date(amzDate) else { return .failure(.malformed("bad X-Amz-Credential or X-Amz-Date")) }
        guard let key = secret(parts[0]) else { return .failure(.unknownAccessKey(parts[0])) }
        guard now.timeIntervalSince(issued) <= Double(expires), expires <= 604_800 else { return .failure(.expired) }
        let scope = Scope(date: parts[1], region: parts[2], service: parts[3])
        var unsigned = request
        unsigned.query.removeAll { $0.name == "X-Amz-Signature" }
        let canonical = canonicalRequest(unsigned, signedHeaders: signed.split(separator: ";").map(String.init), payloadHash: unsignedPayload)
        let expected = signature(key: signingKey(secret: key, scope: scope), stringToSign: stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonical))
        return constantTimeEqual(expected, given) ? .success(parts[0]) : .failure(.signatureDoesNotMatch)
    }

    /// The signature one chunk of an aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) body
    /// must carry, chained from the previous chunk's (the first from the header's).
    public static func chunkSignature(key: SymmetricKey, amzDate: String, scope: Scope, previous: String, chunk: Data) -> String {
        let text = ["AWS4-HMAC-SHA256-PAYLOAD", amzDate, scope.text, previous, emptyPayloadHash, hex(SHA256.hash(data: chunk))].joined(separator: "\n")
        return signature(key: key, stringToSign: text)
    }

    // MARK: Signing

    /// Adds x-amz-date, x-amz-content-sha256 and Authorization to a request (the headers
    /// present, host among them, are signed).
    public static func sign(_ request: inout Request, accessKey: String, secret: String, region: String, service: String = "s3",
                            payloadHash: String, now: Date) {
        let amzDate = format(now)
        request.headers.removeAll { ["authorization", "x-amz-date", "x-amz-content-sha256"].contains($0.name.lowercased()) }
        request.headers.append(("x-amz-date", amzDate))
        request.headers.append(("x-amz-content-sha256", payloadHash))
        let scope = Scope(date: String(amzDate.prefix(8)), region: region, service: service)
        let signed = Array(Set(request.headers.map { $0.name.lowercased() })).sorted()
        let canonical = canonicalRequest(request, signedHeaders: signed, payloadHash: payloadHash)
        let value = signature(key: signingKey(secret: secret, scope: scope), stringToSign: stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonical))
        request.headers.append(("Authorization", "\(algorithm) Credential=\(accessKey)/\(scope.text), SignedHeaders=\(signed.joined(separator: ";")), Signature=\(value)"))
    }

    static func format(_ date: Date) -> String { S3Date.amz(date) }

    /// x-amz-date (or X-Amz-Date) from a request; nil unless it is exactly that form.
    static func date(_ text: String) -> Date? { S3Date.parseAMZ(text) }
}
