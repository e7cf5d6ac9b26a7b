import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// A browser-form upload's body (S3's POST Object: `multipart/form-data`), read as it
/// arrives: the fields before the `file` part, then the file's bytes. What follows the
/// file is ignored, as S3 ignores it. Fields are held in memory, so everything before the
/// file's bytes is bounded (`fieldLimit` bytes of values, `maximumFields` fields; each
/// part's headers by the parser).
final class S3PostFormReader {
    static let fieldLimit = 64 * 1024
    static let maximumFields = 100

    /// Form fields in order, names lower-cased (S3 matches them case-insensitively).
    private(set) var fields: [(name: String, value: String)] = []
    /// The file part's `filename`, once its headers are in.
    private(set) var filename: String?
    private(set) var fileContentType: String?
    /// True once the file part has ended (the upload is whole).
    private(set) var fileComplete = false
    /// File bytes not yet taken by `takeFileBytes()`.
    private var fileBytes = ByteBuffer()
    private var parser: MultipartFormParser
    /// The field being read: its name and value so far.
    private var field: (name: String, value: ByteBuffer)?
    private var inFile = false
    private var fieldBytes = 0

    /// nil when the Content-Type is not `multipart/form-data` with a usable boundary.
    init?(contentType: String?) {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data"),
              let boundary = Self.parameter("boundary", in: contentType), let parser = MultipartFormParser(boundary: boundary) else { return nil }
        self.parser = parser
    }

    /// Feeds the next bytes of the body.
    func feed(_ bytes: ByteBuffer) throws(S3Error) {
        guard !fileComplete else { return }
        let events: [MultipartFormParser.Event]
        do {
            events = try parser.feed(bytes)
        } catch {
            throw S3Error("MalformedPOSTRequest", .badRequest, "The body of your POST request is not well-formed multipart/form-data (\(error.reason)).")
        }
        for event in events where !fileComplete {
            try handle(event)
        }
    }

    private func handle(_ event: MultipartFormParser.Event) throws(S3Error) {
        switch event {
        case .partStarted(let headers):
            let disposition = headers.first { $0.name.lowercased() == "content-disposition" }?.value ?? ""
            guard let name = Self.parameter("name", in: disposition) else { throw Self.malformed }
            if name.lowercased() == "file" {
                inFile = true
                filename = Self.parameter("filename", in: disposition) ?? ""
                fileContentType = headers.first { $0.name.lowercased() == "content-type" }?.value
            } else {
                guard fields.count < Self.maximumFields else {
                    throw S3Error("MaxPostPreDataLengthExceeded", .badRequest, "More than \(Self.maximumFields) form fields.")
                }
                field = (name.lowercased(), ByteBuffer())
            }
        case .body(var bytes):
            if inFile {
                fileBytes.writeBuffer(&bytes)
            } else if field != nil {
                fieldBytes += bytes.readableBytes
                guard fieldBytes <= Self.fieldLimit else {
                    throw S3Error("MaxPostPreDataLengthExceeded", .badRequest,
                                  "Your POST request fields preceding the upload file were too large (over \(Self.fieldLimit) bytes).")
                }
                field!.value.writeBuffer(&bytes)
            }
        case .partEnded:
            if inFile {
                inFile = false
                fileComplete = true
            } else if let field {
                fields.append((field.name, String(buffer: field.value)))
                self.field = nil
            }
        }
    }

    /// The file's bytes received since the last call.
    func takeFileBytes() -> ByteBuffer? {
        guard fileBytes.readableBytes > 0 else { return nil }
        defer { fileBytes = ByteBuffer() }
        return fileBytes
    }

    static let malformed = S3Error("MalformedPOSTRequest", .badRequest, "The body of your POST request is not well-formed multipart/form-data.")

    /// `name` of `form-data; name="key"; filename="a b.flv"`, quotes removed.
    static func parameter(_ name: String, in header: String) -> String? {
        for part in header.split(separator: ";").dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == name else { continue }
            var value = pair[1].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            return value
        }
        return nil
    }
}

/// A POST policy (the base64 JSON a form carries, signed by its owner): when it expires,
/// and the conditions every form field must meet.
struct S3PostPolicy {
    enum Condition: Equatable {
        case equals(field: String, value: String)
        case startsWith(field: String, prefix: String)
        case contentLength(ClosedRange<Int64>)
    }

    var expiration: Date
    var conditions: [Condition]

    static func invalid(_ why: String) -> S3Error { S3Error.invalidArgument("Invalid Policy: \(why)") }

    init(base64: String) throws(S3Error) {
        guard let data = Data(base64Encoded: base64), data.count <= 20 * 1024,
              let document = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw Self.invalid("the policy is not base64-encoded JSON of at most 20 KB")
        }
        guard let text = document["expiration"] as? String, let expiration = S3Date.parseISO8601(text) else {
            throw Self.invalid("expiration is missing or not an ISO 8601 time")
        }
        guard let list = document["conditions"] as? [Any] else { throw Self.invalid("conditions is missing") }
        self.expiration = expiration
        conditions = []
        for item in list {
            if let pairs = item as? [String: Any] {
                guard !pairs.isEmpty else { throw Self.invalid("a condition is an empty object") }
                for (name, value) in pairs {
                    guard let value = value as? String else { throw Self.invalid("condition \(name) is not a string") }
                    conditions.append(.equals(field: Self.fieldName(name), value: value))
                }
            } else if let array = item as? [Any], let operation = (array.first as? String)?.lowercased() {
                switch (operation, array.count) {
                case ("eq", 3), ("starts-with", 3):
                    guard let name = array[1] as? String, name.hasPrefix("$"), let value = array[2] as? String else {
                        throw Self.invalid("\(operation) needs a $field and a string")
                    }
                    conditions.append(operation == "eq" ? .equals(field: Self.fieldName(name), value: value)
                                                        : .startsWith(field: Self.fieldName(name), prefix: value))
                case ("content-length-range", 3):
                    guard let low = Self.integer(array[1]), let high = Self.integer(array[2]), low >= 0, low <= high else {
                        throw Self.invalid("content-length-range needs two whole numbers, the first not above the second")
                    }
                    conditions.append(.contentLength(low...high))
                default:
                    throw Self.invalid("unknown condition \(operation)")
                }
            } else {
                throw Self.invalid("a condition is neither an object nor a list")
            }
        }
    }

    private static func fieldName(_ name: String) -> String { (name.hasPrefix("$") ? String(name.dropFirst()) : name).lowercased() }

    private static func integer(_ value: Any) -> Int64? {
        if let number = value as? NSNumber, let exact = Int64(exactly: number.doubleValue) { return exact }
        if let text = value as? String { return Int64(text) }
        return nil
    }

    /// Fields that need no condition: the signature's own, the file, `x-ignore-*`.
    static let exempt: Set<String> = ["policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"]

    /// Checks the fields (lower-cased names; `bucket` given apart) against the policy.
    func check(fields: [(name: String, value: String)], bucket: String, now: Date) throws(S3Error) {
        guard now < expiration else { throw S3Error.accessDenied("Invalid according to Policy: Policy expired.") }
        var values = Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        values["bucket"] = bucket
        var covered: Set<String> = ["bucket"]
        for condition in conditions {
            switch condition {
            case .equals(let field, let value):
                covered.insert(field)
                guard values[field] == value else {
                    throw S3Error.accessDenied("Invalid according to Policy: Policy Condition failed: [\"eq\", \"$\(field)\", \"\(value)\"]")
                }
            case .startsWith(let field, let prefix):
                covered.insert(field)
                // content-type may list several types, each of which must match.
                let parts = field == "content-type" ? (values[field] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                                                    : [values[field] ?? ""]
                guard parts.allSatisfy({ $0.hasPrefix(prefix) }) else {
                    throw S3Error.accessDenied("Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$\(field)\", \"\(prefix)\"]")
                }
            case .contentLength:
                break
            }
        }
        for (name, _) in fields where !Self.exempt.contains(name) && !name.hasPrefix("x-ignore-") && !covered.contains(name) {
            throw S3Error.accessDenied("Invalid according to Policy: Extra input fields: \(name)")
        }
    }

    var contentLengthRange: ClosedRange<Int64>? {
        for case .contentLength(let range) in conditions { return range }
        return nil
    }
}

extension S3PostPolicy {
    /// Who signed the policy: the access key whose secret makes the form's signature
    /// (Signature V4 fields `x-amz-credential` and `x-amz-signature`, or V2's
    /// `AWSAccessKeyId` and `signature`).
    static func signer(of fields: [(name: String, value: String)], policy: String, secret: (String) -> String?) throws(S3Error) -> String {
        func field(_ name: String) -> String? { fields.first { $0.name == name }?.value }
        if let credential = field("x-amz-credential") {
            guard field("x-amz-algorithm") == SignatureV4.algorithm, let signature = field("x-amz-signature") else {
                throw S3Error.invalidArgument("a form signed with Signature V4 needs x-amz-algorithm AWS4-HMAC-SHA256 and x-amz-signature")
            }
            let parts = credential.split(separator: "/").map(String.init)
            guard parts.count == 5, parts[4] == "aws4_request" else { throw S3Error.invalidArgument("x-amz-credential is malformed") }
            guard let key = secret(parts[0]) else {
                throw S3Error("InvalidAccessKeyId", .forbidden, "The AWS Access Key Id you provided does not exist in our records.")
            }
            let signingKey = SignatureV4.signingKey(secret: key, scope: SignatureV4.Scope(date: parts[1], region: parts[2], service: parts[3]))
            guard SignatureV4.constantTimeEqual(SignatureV4.signature(key: signingKey, stringToSign: policy), signature.lowercased()) else {
                throw S3Error("SignatureDoesNotMatch", .forbidden, "The request signature we calculated does not match the signature you provided.")
            }
            return parts[0]
        }
        guard let accessKey = field("awsaccesskeyid") else {
            throw S3Error.accessDenied("a form with a policy needs its signature (x-amz-credential and x-amz-signature, or AWSAccessKeyId and signature)")
        }
        guard let signature = field("signature") else {
            throw S3Error.invalidArgument("Bucket POST must contain a field named 'Signature'.  If it is specified, please check the order of the fields.")
        }
        guard let key = secret(accessKey) else {
            throw S3Error("InvalidAccessKeyId", .forbidden, "The AWS Access Key Id you provided does not exist in our records.")
        }
        guard SignatureV4.constantTimeEqual(SignatureV2.signature(secret: key, stringToSign: policy), signature) else {
            throw S3Error("SignatureDoesNotMatch", .forbidden, "The request signature we calculated does not match the signature you provided.")
        }
        return accessKey
    }
}
