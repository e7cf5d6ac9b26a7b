import Foundation
import GRDB
import SluiceMedia

/// Buckets, with their owners and grants.
extension LocalObjectStore {
    public func createBucket(_ name: String) throws(StoreError) {
        try createBucket(name, access: AccessPolicy(.private))
    }

    /// Creates a bucket with its owner and grants.
    public func createBucket(_ name: String, access: AccessPolicy) throws(StoreError) {
        guard ObjectKey.isValidNewBucketName(name) else {
            throw StoreError(.invalidBucketName, "'\(name)' is not a valid bucket name (3-63 of a-z, 0-9, '.', '-')")
        }
        try write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM bucket WHERE name = ?", arguments: [name]) == true {
                throw StoreError(.bucketAlreadyOwnedByYou, "bucket \(name) already exists")
            }
            try db.execute(sql: "INSERT INTO bucket (name, created, owner, grants) VALUES (?, ?, ?, ?)",
                           arguments: [name, Date(), access.owner, access.grantsText])
        }
    }

    public func listBuckets() throws(StoreError) -> [BucketInfo] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM bucket ORDER BY name").map(Self.bucket) }
    }

    /// A bucket with its owner and grants, or nil when there is none.
    public func bucket(_ name: String) throws(StoreError) -> BucketInfo? {
        try read { db in try Row.fetchOne(db, sql: "SELECT * FROM bucket WHERE name = ?", arguments: [name]).map(Self.bucket) }
    }

    public func setBucketAccess(_ name: String, access: AccessPolicy) throws(StoreError) {
        try write { db in
            try db.execute(sql: "UPDATE bucket SET owner = ?, grants = ? WHERE name = ?", arguments: [access.owner, access.grantsText, name])
            guard db.changesCount == 1 else { throw StoreError(.noSuchBucket, "no bucket named \(name)") }
        }
    }

    static func bucket(_ row: Row) -> BucketInfo {
        BucketInfo(name: row["name"], created: row["created"],
                   access: AccessPolicy.stored(owner: row["owner"], grants: row["grants"], acl: ObjectACL.private.rawValue))
    }

    public func bucketExists(_ name: String) throws(StoreError) -> Bool {
        try read { db in try Bool.fetchOne(db, sql: "SELECT 1 FROM bucket WHERE name = ?", arguments: [name]) == true }
    }

    /// Deletes an empty bucket. Uploads still in progress in it go with it, as S3 drops
    /// them (tools that empty a bucket before deleting it leave them).
    public func deleteBucket(_ name: String) throws(StoreError) {
        let parts: [String] = try write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM bucket WHERE name = ?", arguments: [name]) == true else {
                throw StoreError(.noSuchBucket, "no bucket named \(name)")
            }
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM object WHERE bucket = ? LIMIT 1", arguments: [name]) == true {
                throw StoreError(.bucketNotEmpty, "bucket \(name) is not empty")
            }
            let parts = try String.fetchAll(db, sql: """
                SELECT path FROM multipartPart WHERE uploadId IN (SELECT id FROM multipartUpload WHERE bucket = ?)
                """, arguments: [name])
            try db.execute(sql: "DELETE FROM multipartPart WHERE uploadId IN (SELECT id FROM multipartUpload WHERE bucket = ?)", arguments: [name])
            try db.execute(sql: "DELETE FROM multipartUpload WHERE bucket = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM bucket WHERE name = ?", arguments: [name])
            return parts
        }
        for path in parts { unlink(dataFolder + "/" + path) }
    }
}
