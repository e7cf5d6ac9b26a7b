import Crypto
import Foundation

/// AWS Signature Version 2, still what botocore and `aws s3 presign` use for presigned
/// S3 URLs unless told otherwise (`?AWSAccessKeyId=…&Expires=…&Signature=…`), and what
/// older tools put in `Authorization: AWS KEY:SIGNATURE`. Pure.
public enum SignatureV2 {
    /// Sub-resources that are part of the signed resource (the rest of the query is not).
    static let subresources: Set<String> = [
        "acl", "cors", "delete", "lifecycle", "location", "logging", "notification", "partNumber", "policy", "requestPayment",
        "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
        "response-cache-control", "response-content-disposition", "response-content-encoding", "response-content-language",
        "response-content-type", "response-expires",
    ]

    /// `path` as on the wire; `bucket` is set for virtual-host-style requests, whose path
    /// does not name it. `dateOrExpires` is the Date header (empty when x-amz-date is
    /// sent) or, for presigned URLs, the Expires parameter.
    public static func stringToSign(_ request: SignatureV4.Request, virtualHostBucket bucket: String?, dateOrExpires: String) -> String {
        var amzHeaders: [String: [String]] = [:]
        for header in request.headers where header.name.lowercased().hasPrefix("x-amz-") {
            amzHeaders[header.name.lowercased(), default: []].append(SignatureV4.canonicalValue(header.value))
        }
        let canonicalHeaders = amzHeaders.keys.sorted().map { "\($0):\(amzHeaders[$0]!.joined(separator: ","))\n" }.joined()
        var resource = (bucket.map { "/" + $0 } ?? "") + request.path
        let signedParameters = request.query.filter { subresources.contains($0.name) }.sorted { $0.name < $1.name }
        if !signedParameters.isEmpty {
            resource += "?" + signedParameters.map { $0.value.isEmpty ? $0.name : "\($0.name)=\($0.value)" }.joined(separator: "&")
        }
        return [request.method.uppercased(), request.header("content-md5") ?? "", request.header("content-type") ?? "", dateOrExpires]
            .joined(separator: "\n") + "\n" + canonicalHeaders + resource
    }

    public static func signature(secret: String, stringToSign: String) -> String {
        Data(HMAC<Insecure.SHA1>.authenticationCode(for: Data(stringToSign.utf8), using: SymmetricKey(data: Data(secret.utf8))))
            .base64EncodedString()
    }

    /// Checks `Authorization: AWS KEY:SIGNATURE`; returns the access key.
    public static func verify(_ request: SignatureV4.Request, virtualHostBucket: String?, secret: (String) -> String?)
        -> Result<String, SignatureV4.Failure> {
        guard let header = request.header("authorization"), header.hasPrefix("AWS "),
              let colon = header.lastIndex(of: ":") else { return .failure(.malformed("malformed AWS Authorization header")) }
        let accessKey = String(header[header.index(header.startIndex, offsetBy: 4)..<colon])
        let given = String(header[header.index(after: colon)...])
        guard let key = secret(accessKey) else { return .failure(.unknownAccessKey(accessKey)) }
        let date = request.header("x-amz-date") != nil ? "" : (request.header("date") ?? "")
        let expected = signature(secret: key, stringToSign: stringToSign(request, virtualHostBucket: virtualHostBucket, dateOrExpires: date))
        return SignatureV4.constantTimeEqual(expected, given) ? .success(accessKey) : .failure(.signatureDoesNotMatch)
    }

    /// Checks a presigned URL (`AWSAccessKeyId`, `Expires` in epoch seconds, `Signature`).
    public static func verifyPresigned(_ request: SignatureV4.Request, virtualHostBucket: String?, now: Date,
                                       secret: (String) -> String?) -> Result<String, SignatureV4.Failure> {
        func parameter(_ name: String) -> String? { request.query.first { $0.name == name }?.value }
        guard let accessKey = parameter("AWSAccessKeyId"), let expires = parameter("Expires"), let given = parameter("Signature"),
              let expiry = TimeInterval(expires)
        else { return .failure(.malformed("incomplete presigned URL")) }
        guard let key = secret(accessKey) else { return .failure(.unknownAccessKey(accessKey)) }
        guard now.timeIntervalSince1970 <= expiry else { return .failure(.expired) }
        let expected = signature(secret: key, stringToSign: stringToSign(request, virtualHostBucket: virtualHostBucket, dateOrExpires: expires))
        return SignatureV4.constantTimeEqual(expected, given) ? .success(accessKey) : .failure(.signatureDoesNotMatch)
    }
}
