import Foundation

/// Who may do what: each operation needs a permission on its bucket or object, held by
/// the signer (or, unsigned, by AllUsers) through the grants, as S3 checks them.
extension S3RequestHandler {
    /// The bucket, when the caller holds `permission` on it; `nil` permission asks for the
    /// owner (deleting the bucket, its location and versioning).
    @discardableResult
    func authorizedBucket(_ call: S3Call, _ name: String, _ permission: Permission?) async throws -> BucketInfo {
        guard let found = try await onStore({ try $0.bucket(name) }) else {
            throw S3Error("NoSuchBucket", .notFound, "The specified bucket does not exist")
        }
        var bucket = found
        bucket.access = call.users.resolved(found.access)
        let allowed = permission.map { bucket.access.allows($0, to: call.user?.id) } ?? (call.user?.id == bucket.access.owner)
        guard allowed else { throw denied(call, permission.map { "\($0.rawValue) on bucket \(name)" } ?? "ownership of bucket \(name)") }
        try checkExpectedOwner(call, bucket)
        return bucket
    }

    /// The object, when the caller holds `permission` on it.
    func authorizedObject(_ call: S3Call, bucket: String, key: String, _ permission: Permission) async throws -> ObjectInfo {
        try await authorized(call, bucket: bucket, key: key, permission).object
    }

    /// The object, when the caller holds `permission` on it, and its bucket: both read in
    /// one trip to the store, their policies resolved. A missing object is NoSuchKey only
    /// to a caller who may list the bucket; to anyone else it is AccessDenied, as S3
    /// answers, so that keys cannot be probed.
    func authorized(_ call: S3Call, bucket: String, key: String, _ permission: Permission) async throws
        -> (object: ObjectInfo, bucket: BucketInfo) {
        let (found, object) = try await onStore { store -> (BucketInfo?, ObjectInfo?) in
            guard let found = try store.bucket(bucket) else { return (nil, nil) }
            return (found, try store.findObject(bucket: bucket, key: key))
        }
        guard var bucketInfo = found else { throw S3Error("NoSuchBucket", .notFound, "The specified bucket does not exist") }
        bucketInfo.access = call.users.resolved(bucketInfo.access)
        try checkExpectedOwner(call, bucketInfo)
        guard var info = object else {
            guard bucketInfo.access.allows(.read, to: call.user?.id) else {
                throw denied(call, "READ on bucket \(bucket), and \(bucket)/\(key) does not exist")
            }
            throw S3Error("NoSuchKey", .notFound, "The specified key does not exist.")
        }
        info.access = call.users.resolved(info.access)
        guard info.access.allows(permission, to: call.user?.id) else { throw denied(call, "\(permission.rawValue) on \(bucket)/\(key)") }
        return (info, bucketInfo)
    }

    /// `x-amz-expected-bucket-owner`: a request meant for someone else's bucket of the
    /// same name is refused.
    func checkExpectedOwner(_ call: S3Call, _ bucket: BucketInfo) throws {
        if let expected = call.header("x-amz-expected-bucket-owner"), expected != bucket.access.owner {
            throw S3Error.accessDenied(reason: "bucket \(bucket.name) is not owned by \(expected) (x-amz-expected-bucket-owner)")
        }
    }

    func denied(_ call: S3Call, _ what: String) -> S3Error {
        S3Error.accessDenied(reason: "\(call.user.map { "user \($0.name)" } ?? "an unsigned request") lacks \(what)")
    }

    /// The signer, for what only users may do (list their buckets, create one).
    func signer(_ call: S3Call) throws -> StoreUser {
        guard let user = call.user else { throw S3Error.accessDenied(reason: "an unsigned request may not \(call.operation.name)") }
        return user
    }

    /// The ACL a new bucket or object gets: the one its headers ask for, else private.
    func newAccess(_ call: S3Call, owner: String, bucketOwner: String? = nil) throws -> AccessPolicy {
        try S3Grants.fromHeaders(call.header, owner: owner, bucketOwner: bucketOwner, users: call.users)
            ?? AccessPolicy(canned: .private, owner: owner)
    }

    /// PutBucketAcl and PutObjectAcl: the headers' ACL or an AccessControlPolicy body,
    /// for the current owner (an ACL cannot give a resource away).
    func replacementAccess(_ call: S3Call, document: Data, current: AccessPolicy, bucketOwner: String?) throws -> AccessPolicy {
        if let fromHeaders = try S3Grants.fromHeaders(call.header, owner: current.owner, bucketOwner: bucketOwner, users: call.users) {
            guard document.isEmpty else {
                throw S3Error("UnexpectedContent", .badRequest, "This request does not support content with ACL headers.")
            }
            return fromHeaders
        }
        guard !document.isEmpty else {
            throw S3Error("MissingSecurityHeader", .badRequest, "Your request was missing a required header: x-amz-acl, x-amz-grant-* or an AccessControlPolicy body.")
        }
        let (owner, requested) = try S3Grants.parsePolicy(document)
        if let owner, call.users.user(id: owner)?.id ?? owner != current.owner {
            throw S3Error.accessDenied(reason: "an ACL names owner \(owner), not the current owner")
        }
        return AccessPolicy(owner: current.owner, grants: try S3Grants.resolve(requested, users: call.users))
    }

    func putBucketACL(_ call: S3Call, bucket: String, connection: S3Connection) async throws -> S3Reply {
        let info = try await authorizedBucket(call, bucket, .writeACP)
        let document = try await readDocument(call, connection: connection)
        let access = try replacementAccess(call, document: document, current: info.access, bucketOwner: nil)
        try await onStore { try $0.setBucketAccess(bucket, access: access) }
        return .empty(.ok, [])
    }

    func putObjectACL(_ call: S3Call, bucket: String, key: String, connection: S3Connection) async throws -> S3Reply {
        let (info, bucketInfo) = try await authorized(call, bucket: bucket, key: key, .writeACP)
        let document = try await readDocument(call, connection: connection)
        let access = try replacementAccess(call, document: document, current: info.access, bucketOwner: bucketInfo.access.owner)
        try await onStore { try $0.setAccess(bucket: bucket, key: key, access: access) }
        return .empty(.ok, [])
    }

    /// An `Owner` element: ID and display name.
    func owner(_ xml: inout S3XMLWriter, _ id: String, users: UserDirectory) {
        xml.element("Owner") {
            $0.element("ID", id)
            $0.element("DisplayName", users.displayName(id))
        }
    }
}
