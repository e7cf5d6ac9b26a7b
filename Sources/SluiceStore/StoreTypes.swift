import Foundation

/// Who may read an object without credentials.
public enum ObjectACL: String, Sendable, Codable, CaseIterable {
    /// Only signed requests (the default for uploads).
    case `private` = "private"
    /// Anyone: streamed over RTMP, served anonymously.
    case publicRead = "public-read"
}

/// One stored object's metadata.
public struct ObjectInfo: Sendable, Equatable {
    public var bucket: String
    public var key: String
    public var size: Int64
    /// MD5 of the body, hex (S3's ETag for single-part uploads).
    public var etag: String
    public var contentType: String
    /// The owner and grants (the embedded store's; an external store's objects have
    /// their canned ACL for the first administrator).
    public var access: AccessPolicy
    public var metadata: [String: String]
    /// The representation headers the uploader set (`StoredHeader.names`), returned as sent.
    public var headers: [String: String]
    public var lastModified: Date
    /// The body's file, relative to the data folder; empty for an object of an external store.
    public var path: String
    /// The sizes of the parts a multipart upload joined, in order; nil for one put whole.
    public var partSizes: [Int64]?

    public init(bucket: String, key: String, size: Int64, etag: String, contentType: String, acl: ObjectACL,
                metadata: [String: String], headers: [String: String] = [:], lastModified: Date, path: String = "") {
        self.init(bucket: bucket, key: key, size: size, etag: etag, contentType: contentType, access: AccessPolicy(acl),
                  metadata: metadata, headers: headers, lastModified: lastModified, path: path)
    }

    public init(bucket: String, key: String, size: Int64, etag: String, contentType: String, access: AccessPolicy,
                metadata: [String: String], headers: [String: String] = [:], lastModified: Date, path: String = "") {
        self.bucket = bucket
        self.key = key
        self.size = size
        self.etag = etag
        self.contentType = contentType
        self.access = access
        self.metadata = metadata
        self.headers = headers
        self.lastModified = lastModified
        self.path = path
    }

    /// Whether anyone may read it without credentials.
    public var acl: ObjectACL { access.acl }
}

/// The headers S3 stores with an object and returns on every GET and HEAD.
public enum StoredHeader {
    public static let names = ["Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires"]
}

/// A conditional write (S3's If-None-Match and If-Match on PUT), checked in the same
/// transaction that puts the new object in place, so two writers cannot both win.
public enum WriteCondition: Sendable, Equatable {
    /// `If-None-Match: *`: only if no object has the key.
    case absent
    /// `If-None-Match: ETAG`: not over the object with that ETag.
    case notMatching(etag: String)
    /// `If-Match: *`: only over an existing object.
    case present
    /// `If-Match: ETAG`: only over the object with that ETag.
    case matching(etag: String)
}

/// A conditional delete (S3's If-Match, x-amz-if-match-last-modified-time and
/// x-amz-if-match-size on DELETE): every condition given must hold.
public struct DeleteCondition: Sendable, Equatable {
    /// An ETag, or "*" for any.
    public var etag: String?
    public var lastModified: Date?
    public var size: Int64?

    public init(etag: String? = nil, lastModified: Date? = nil, size: Int64? = nil) {
        self.etag = etag
        self.lastModified = lastModified
        self.size = size
    }

    public func holds(for info: ObjectInfo) -> Bool {
        if let etag, etag != "*", etag != info.etag { return false }
        // HTTP dates have whole seconds.
        if let lastModified, lastModified.timeIntervalSince1970.rounded(.down) != info.lastModified.timeIntervalSince1970.rounded(.down) {
            return false
        }
        if let size, size != info.size { return false }
        return true
    }
}

public struct BucketInfo: Sendable, Equatable {
    public var name: String
    public var created: Date
    public var access: AccessPolicy

    public init(name: String, created: Date, access: AccessPolicy = AccessPolicy(.private)) {
        self.name = name
        self.created = created
        self.access = access
    }
}

/// What a store operation could not do, with the S3 error code it maps to.
public struct StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case noSuchBucket = "NoSuchBucket"
        case noSuchKey = "NoSuchKey"
        case bucketAlreadyOwnedByYou = "BucketAlreadyOwnedByYou"
        case bucketNotEmpty = "BucketNotEmpty"
        case invalidBucketName = "InvalidBucketName"
        case invalidKey = "InvalidArgument"
        case noSuchUpload = "NoSuchUpload"
        case invalidPart = "InvalidPart"
        case invalidPartOrder = "InvalidPartOrder"
        case entityTooSmall = "EntityTooSmall"
        /// A conditional write whose condition did not hold.
        case preconditionFailed = "PreconditionFailed"
        /// The disk is full: the write failed and nothing was kept.
        case storageFull = "StorageFull"
        /// An external store refused our credentials or the request.
        case accessDenied = "AccessDenied"
        /// An external store could not be reached, or answered 5xx: worth retrying.
        case serviceUnavailable = "ServiceUnavailable"
        /// The store's settings are wrong (an endpoint that is not a URL, say).
        case invalidConfiguration = "InvalidConfiguration"
        case internalError = "InternalError"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// Worth trying again later: the disk may be freed, the service may come back.
    public var isTransient: Bool { code == .storageFull || code == .serviceUnavailable }

    /// From the C library's `errno`: a full disk says so, anything else is internal.
    static func fromErrno(_ what: String) -> StoreError {
        let number = errno
        let reason = String(cString: strerror(number))
        if number == ENOSPC || number == EDQUOT {
            return StoreError(.storageFull, "\(what): the disk is full (\(reason))")
        }
        return StoreError(.internalError, "\(what): \(reason)")
    }
}

/// One uploaded part of a multipart upload.
public struct MultipartPart: Sendable, Equatable {
    public var number: Int
    public var size: Int64
    /// MD5 of the part, hex.
    public var etag: String
    public var lastModified: Date
    /// The part's body, relative to the data folder.
    var path: String
}

/// A multipart upload in progress.
public struct MultipartUploadInfo: Sendable, Equatable {
    public var id: String
    public var bucket: String
    public var key: String
    public var created: Date
    public var contentType: String?
    /// The owner and grants the object gets on completion.
    public var access: AccessPolicy
    public var metadata: [String: String]
    public var headers: [String: String] = [:]
}

/// A page of a bucket listing (ListObjectsV2).
public struct ObjectListing: Sendable, Equatable {
    public var objects: [ObjectInfo]
    public var commonPrefixes: [String]
    public var isTruncated: Bool
    /// Pass back as `continuationToken` for the next page.
    public var nextContinuationToken: String?
}
