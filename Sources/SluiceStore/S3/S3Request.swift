import Foundation
import SluiceMedia

/// What an S3 request asks for, decided from its method, path, query and Host alone
/// (pure, so routing is tested without sockets).
public enum S3Operation: Equatable, Sendable {
    case listBuckets
    case createBucket(bucket: String)
    case deleteBucket(bucket: String)
    case headBucket(bucket: String)
    case getBucketLocation(bucket: String)
    case getBucketACL(bucket: String)
    case putBucketACL(bucket: String)
    case listObjects(bucket: String, version2: Bool)
    /// `GET ?versions`: an unversioned store's objects, each as its one version, `null`.
    case listObjectVersions(bucket: String)
    case getBucketVersioning(bucket: String)
    case listMultipartUploads(bucket: String)
    case deleteObjects(bucket: String)
    /// A browser form's upload (`POST /bucket`, multipart/form-data with a signed policy).
    case postObject(bucket: String)
    case putObject(bucket: String, key: String)
    case copyObject(bucket: String, key: String)
    case getObject(bucket: String, key: String)
    case headObject(bucket: String, key: String)
    case deleteObject(bucket: String, key: String)
    case getObjectACL(bucket: String, key: String)
    case putObjectACL(bucket: String, key: String)
    case createMultipartUpload(bucket: String, key: String)
    case uploadPart(bucket: String, key: String, uploadID: String, partNumber: Int)
    case completeMultipartUpload(bucket: String, key: String, uploadID: String)
    case abortMultipartUpload(bucket: String, key: String, uploadID: String)
    case listParts(bucket: String, key: String, uploadID: String)
    /// Something S3 has that Sluice does not: answered with NotImplemented.
    case notImplemented(String)
    /// A request no S3 operation matches (a method S3 has not for this resource).
    case invalid(String)
    /// An operation with a parameter out of its range (a part number of 0): 400.
    case invalidArgument(String)

    public var bucket: String? {
        switch self {
        case .listBuckets, .notImplemented, .invalid, .invalidArgument: return nil
        case .createBucket(let b), .deleteBucket(let b), .headBucket(let b), .getBucketLocation(let b), .getBucketACL(let b),
             .putBucketACL(let b), .listObjects(let b, _), .listObjectVersions(let b), .getBucketVersioning(let b), .listMultipartUploads(let b), .deleteObjects(let b),
             .postObject(let b):
            return b
        case .putObject(let b, _), .copyObject(let b, _), .getObject(let b, _), .headObject(let b, _), .deleteObject(let b, _),
             .getObjectACL(let b, _), .putObjectACL(let b, _), .createMultipartUpload(let b, _), .uploadPart(let b, _, _, _),
             .completeMultipartUpload(let b, _, _), .abortMultipartUpload(let b, _, _), .listParts(let b, _, _):
            return b
        }
    }

    /// The operation's name in S3's API reference, for the access log.
    public var name: String {
        switch self {
        case .listBuckets: return "ListBuckets"
        case .createBucket: return "CreateBucket"
        case .deleteBucket: return "DeleteBucket"
        case .headBucket: return "HeadBucket"
        case .getBucketLocation: return "GetBucketLocation"
        case .getBucketACL: return "GetBucketAcl"
        case .putBucketACL: return "PutBucketAcl"
        case .listObjects(_, let version2): return version2 ? "ListObjectsV2" : "ListObjects"
        case .listObjectVersions: return "ListObjectVersions"
        case .getBucketVersioning: return "GetBucketVersioning"
        case .listMultipartUploads: return "ListMultipartUploads"
        case .deleteObjects: return "DeleteObjects"
        case .postObject: return "PostObject"
        case .putObject: return "PutObject"
        case .copyObject: return "CopyObject"
        case .getObject: return "GetObject"
        case .headObject: return "HeadObject"
        case .deleteObject: return "DeleteObject"
        case .getObjectACL: return "GetObjectAcl"
        case .putObjectACL: return "PutObjectAcl"
        case .createMultipartUpload: return "CreateMultipartUpload"
        case .uploadPart: return "UploadPart"
        case .completeMultipartUpload: return "CompleteMultipartUpload"
        case .abortMultipartUpload: return "AbortMultipartUpload"
        case .listParts: return "ListParts"
        case .notImplemented, .invalid, .invalidArgument: return "-"
        }
    }
}

/// Splits a request target into bucket, key and operation.
public struct S3Router: Sendable {
    /// Host names under which `BUCKET.DOMAIN` is virtual-host style (`localhost` gives
    /// `media.localhost:9000`).
    public var domains: [String]

    public init(domains: [String]) {
        self.domains = domains.map { $0.lowercased() }
    }

    /// The bucket a Host header names, for virtual-host-style requests.
    public func virtualHostBucket(host: String?) -> String? {
        guard var host = host?.lowercased() else { return nil }
        if host.hasPrefix("[") { return nil }
        if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        for domain in domains where host.hasSuffix("." + domain) {
            let bucket = String(host.dropLast(domain.count + 1))
            if ObjectKey.isValidBucketName(bucket) { return bucket }
        }
        return nil
    }

    /// `path` as on the wire (percent-encoded, no query); `query` decoded.
    public func route(method: String, path: String, query: [(name: String, value: String)], host: String?,
                      headers: (String) -> String?) -> S3Operation {
        let decoded = path.removingPercentEncoding ?? path
        var bucket: String
        var key: String
        let trimmed = decoded.hasPrefix("/") ? String(decoded.dropFirst()) : decoded
        if let virtual = virtualHostBucket(host: host) {
            bucket = virtual
            key = trimmed
        } else if let slash = trimmed.firstIndex(of: "/") {
            bucket = String(trimmed[..<slash])
            key = String(trimmed[trimmed.index(after: slash)...])
        } else {
            bucket = trimmed
            key = ""
        }
        func has(_ name: String) -> Bool { query.contains { $0.name == name } }
        func value(_ name: String) -> String? { query.first { $0.name == name }?.value }
        let method = method.uppercased()

        if bucket.isEmpty {
            return method == "GET" ? .listBuckets : .invalid("\(method) / is not an S3 operation")
        }
        if key.isEmpty {
            switch method {
            case "PUT":
                if has("acl") { return .putBucketACL(bucket: bucket) }
                if has("policy") || has("versioning") || has("cors") || has("lifecycle") || has("tagging") {
                    return .notImplemented("bucket subresource")
                }
                return .createBucket(bucket: bucket)
            case "DELETE": return .deleteBucket(bucket: bucket)
            case "HEAD": return .headBucket(bucket: bucket)
            case "POST": return has("delete") ? .deleteObjects(bucket: bucket) : .postObject(bucket: bucket)
            case "GET":
                if has("location") { return .getBucketLocation(bucket: bucket) }
                if has("acl") { return .getBucketACL(bucket: bucket) }
                if has("uploads") { return .listMultipartUploads(bucket: bucket) }
                if has("versions") { return .listObjectVersions(bucket: bucket) }
                if has("versioning") { return .getBucketVersioning(bucket: bucket) }
                for name in ["policy", "cors", "lifecycle", "tagging", "website", "logging", "encryption"] where has(name) {
                    return .notImplemented("bucket subresource ?\(name)")
                }
                return .listObjects(bucket: bucket, version2: value("list-type") == "2")
            default: return .invalid("\(method) on a bucket")
            }
        }
        // Versioning is never on: an object's one version is "null", the id tools that
        // empty buckets name (as ListObjectVersions shows it). Any other id names nothing.
        if let version = value("versionId"), version != "null" {
            return .invalidArgument("Invalid version id specified")
        }
        switch method {
        case "PUT":
            if has("acl") { return .putObjectACL(bucket: bucket, key: key) }
            if has("tagging") || has("retention") || has("legal-hold") { return .notImplemented("object subresource") }
            if let uploadID = value("uploadId") {
                guard let number = value("partNumber").flatMap(Int.init), (1...10_000).contains(number) else {
                    return .invalidArgument("Part number must be an integer between 1 and 10000, inclusive")
                }
                if headers("x-amz-copy-source") != nil { return .notImplemented("UploadPartCopy") }
                return .uploadPart(bucket: bucket, key: key, uploadID: uploadID, partNumber: number)
            }
            if headers("x-amz-copy-source") != nil { return .copyObject(bucket: bucket, key: key) }
            return .putObject(bucket: bucket, key: key)
        case "GET":
            if has("acl") { return .getObjectACL(bucket: bucket, key: key) }
            if let uploadID = value("uploadId") { return .listParts(bucket: bucket, key: key, uploadID: uploadID) }
            if has("tagging") || has("attributes") || has("torrent") { return .notImplemented("object subresource") }
            return .getObject(bucket: bucket, key: key)
        case "HEAD": return .headObject(bucket: bucket, key: key)
        case "DELETE":
            if let uploadID = value("uploadId") { return .abortMultipartUpload(bucket: bucket, key: key, uploadID: uploadID) }
            return .deleteObject(bucket: bucket, key: key)
        case "POST":
            if has("uploads") { return .createMultipartUpload(bucket: bucket, key: key) }
            if let uploadID = value("uploadId") { return .completeMultipartUpload(bucket: bucket, key: key, uploadID: uploadID) }
            return .notImplemented("POST object")
        default:
            return .invalid("\(method) on an object")
        }
    }

    /// Splits a request target into its path (still percent-encoded) and decoded query.
    public static func splitTarget(_ target: String) -> (path: String, query: [(name: String, value: String)]) {
        guard let mark = target.firstIndex(of: "?") else { return (target, []) }
        return (String(target[..<mark]), parseQuery(target[target.index(after: mark)...]))
    }

    /// Splits `a=1&b&c=%2F` into decoded pairs (`+` is a space only in forms, not here).
    public static func parseQuery(_ text: Substring) -> [(name: String, value: String)] {
        guard !text.isEmpty else { return [] }
        return text.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            return (name, value)
        }
    }
}
