import Foundation
import SluiceMedia

/// What the job runner, `sluice bucket` and the RTMP server need of a bucket store,
/// whichever backend keeps the bodies: the embedded one (`LocalObjectStore`: SQLite and
/// the data folder) or an external S3-compatible service (`RemoteObjectStore`).
///
/// Calls block the calling thread; call them off event loops and off Swift's cooperative
/// pool (the runner's threads, a NIOThreadPool, a command's main thread).
public protocol ObjectStore: Sendable {
    /// Where the objects live, for logs: "the data folder …", "s3 http://… bucket …".
    var location: String { get }

    func createBucket(_ name: String) throws(StoreError)
    func listBuckets() throws(StoreError) -> [BucketInfo]
    func bucketExists(_ name: String) throws(StoreError) -> Bool
    /// Deletes an empty bucket (S3 refuses others with BucketNotEmpty).
    func deleteBucket(_ name: String) throws(StoreError)

    /// Stores a file's contents, streamed: a 2 GB file never sits in memory.
    @discardableResult
    func putObject(bucket: String, key: String, file: String, contentType: String?, acl: ObjectACL,
                   metadata: [String: String]) throws(StoreError) -> ObjectInfo
    func headObject(bucket: String, key: String) throws(StoreError) -> ObjectInfo
    /// Writes the body to `file` (replacing it), streamed.
    @discardableResult
    func getObject(bucket: String, key: String, toFile file: String) throws(StoreError) -> ObjectInfo
    /// Deletes the object; deleting a missing key is not an error (as in S3).
    func deleteObject(bucket: String, key: String) throws(StoreError)
    func setACL(bucket: String, key: String, acl: ObjectACL) throws(StoreError)
    /// A page of keys in order after `continuationToken`, grouped by `delimiter` as S3's
    /// ListObjectsV2 does.
    func listObjects(bucket: String, prefix: String, delimiter: String?, continuationToken: String?,
                     maxKeys: Int) throws(StoreError) -> ObjectListing
    /// Every key under `prefix`, all pages.
    func allKeys(bucket: String, prefix: String) throws(StoreError) -> [String]
}

extension ObjectStore {
    @discardableResult
    public func putObject(bucket: String, key: String, file: String, acl: ObjectACL = .private,
                          metadata: [String: String] = [:]) throws(StoreError) -> ObjectInfo {
        try putObject(bucket: bucket, key: key, file: file, contentType: nil, acl: acl, metadata: metadata)
    }

    public func listObjects(bucket: String, prefix: String = "", delimiter: String? = nil,
                            continuationToken: String? = nil) throws(StoreError) -> ObjectListing {
        try listObjects(bucket: bucket, prefix: prefix, delimiter: delimiter, continuationToken: continuationToken, maxKeys: 1000)
    }

    public func allKeys(bucket: String, prefix: String) throws(StoreError) -> [String] {
        var keys: [String] = []
        var token: String?
        repeat {
            let page = try listObjects(bucket: bucket, prefix: prefix, delimiter: nil, continuationToken: token, maxKeys: 1000)
            keys += page.objects.map(\.key)
            token = page.isTruncated ? page.nextContinuationToken : nil
        } while token != nil
        return keys
    }

    /// Checks a key before it goes to any backend: 1 to 1024 bytes, no NUL.
    static func checkKey(_ key: String) throws(StoreError) {
        guard ObjectKey.isStorable(key) else {
            throw StoreError(.invalidKey, "'\(key)' is not a key Sluice can store (1 to 1024 bytes, no NUL, no '.' or '..' between slashes)")
        }
    }

    static func checkBucketName(_ name: String) throws(StoreError) {
        guard ObjectKey.isValidNewBucketName(name) else {
            throw StoreError(.invalidBucketName, "'\(name)' is not a valid bucket name (3-63 of a-z, 0-9, '.', '-')")
        }
    }
}
