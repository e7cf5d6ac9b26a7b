import Crypto
import Foundation
import GRDB
import SluiceMedia

/// Multipart uploads and server-side copies.
///
/// Parts are bodies under `objects/` like any other, listed in `multipartPart`; completing
/// joins them into one new body by kernel copy and switches the object to it in one
/// transaction, so a reader never sees a half-assembled object.
extension LocalObjectStore {
    /// S3's smallest part, except for the last.
    public static let minimumPartSize: Int64 = 5 * 1024 * 1024

    public func createMultipartUpload(bucket: String, key: String, contentType: String?, access: AccessPolicy,
                                      metadata: [String: String], headers: [String: String] = [:]) throws(StoreError) -> String {
        guard ObjectKey.isStorable(key) else {
            throw StoreError(.invalidKey, "'\(key)' is not a key Sluice can store (1 to 1024 bytes, no NUL, no '.' or '..' between slashes)")
        }
        let id = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM bucket WHERE name = ?", arguments: [bucket]) == true else {
                throw StoreError(.noSuchBucket, "no bucket named \(bucket)")
            }
            try db.execute(sql: """
                INSERT INTO multipartUpload (id, bucket, key, created, contentType, acl, owner, grants, metadata, headers)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id, bucket, key, Date(), contentType, access.acl.rawValue, access.owner, access.grantsText,
                                 Self.metadataText(metadata), Self.metadataText(headers)])
        }
        return id
    }

    static func upload(_ row: Row) -> MultipartUploadInfo {
        MultipartUploadInfo(id: row["id"], bucket: row["bucket"], key: row["key"], created: row["created"], contentType: row["contentType"],
                            access: AccessPolicy.stored(owner: row["owner"], grants: row["grants"], acl: row["acl"]),
                            metadata: metadata(row["metadata"]), headers: metadata(row["headers"]))
    }

    public func multipartUpload(_ id: String, bucket: String, key: String) throws(StoreError) -> MultipartUploadInfo {
        let found: MultipartUploadInfo? = try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM multipartUpload WHERE id = ?", arguments: [id]).map(Self.upload)
        }
        guard let found, found.bucket == bucket, found.key == key else {
            throw StoreError(.noSuchUpload, "no multipart upload \(id) for \(bucket)/\(key)")
        }
        return found
    }

    public func listMultipartUploads(bucket: String) throws(StoreError) -> [MultipartUploadInfo] {
        guard try bucketExists(bucket) else { throw StoreError(.noSuchBucket, "no bucket named \(bucket)") }
        return try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM multipartUpload WHERE bucket = ? ORDER BY key, created", arguments: [bucket]).map(Self.upload)
        }
    }

    /// Starts writing part `number`; commit it with `commitPart`.
    public func beginPart(uploadID: String, bucket: String, key: String) throws(StoreError) -> ObjectUpload {
        _ = try multipartUpload(uploadID, bucket: bucket, key: key)
        return try ObjectUpload(store: self, bucket: bucket, key: key)
    }

    public func commitPart(_ upload: ObjectUpload, uploadID: String, number: Int) throws(StoreError) -> MultipartPart {
        try upload.commitPart(uploadID: uploadID, number: number)
    }

    /// Records a written part (replacing an earlier upload of the same number); returns
    /// the body it replaced.
    func recordPart(uploadID: String, _ part: MultipartPart) throws(StoreError) -> String? {
        try write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM multipartUpload WHERE id = ?", arguments: [uploadID]) == true else {
                throw StoreError(.noSuchUpload, "multipart upload \(uploadID) no longer exists")
            }
            let previous = try String.fetchOne(db, sql: "SELECT path FROM multipartPart WHERE uploadId = ? AND number = ?",
                                               arguments: [uploadID, part.number])
            try db.execute(sql: """
                INSERT OR REPLACE INTO multipartPart (uploadId, number, size, etag, lastModified, path) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [uploadID, part.number, part.size, part.etag, part.lastModified, part.path])
            return previous
        }
    }

    public func listParts(uploadID: String, bucket: String, key: String) throws(StoreError) -> [MultipartPart] {
        _ = try multipartUpload(uploadID, bucket: bucket, key: key)
        return try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM multipartPart WHERE uploadId = ? ORDER BY number", arguments: [uploadID]).map {
                MultipartPart(number: $0["number"], size: $0["size"], etag: $0["etag"], lastModified: $0["lastModified"], path: $0["path"])
            }
        }
    }

    /// Joins the listed parts (ascending numbers, ETags as uploaded) into the object. Its
    /// ETag is S3's: the MD5 of the parts' binary MD5s, a dash, the number of parts.
    public func completeMultipartUpload(uploadID: String, bucket: String, key: String, parts requested: [(number: Int, etag: String)],
                                        condition: WriteCondition? = nil) throws(StoreError) -> ObjectInfo {
        if let repeated = try completedObject(uploadID, bucket: bucket, key: key) { return repeated }
        let upload = try multipartUpload(uploadID, bucket: bucket, key: key)
        let stored = Dictionary(uniqueKeysWithValues: try listParts(uploadID: uploadID, bucket: bucket, key: key).map { ($0.number, $0) })
        guard !requested.isEmpty else { throw StoreError(.invalidPart, "a multipart upload needs at least one part") }
        var chosen: [MultipartPart] = []
        for (index, wanted) in requested.enumerated() {
            if index > 0 && wanted.number <= requested[index - 1].number {
                throw StoreError(.invalidPartOrder, "parts must be listed in ascending order of part number")
            }
            let etag = wanted.etag.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
            guard let part = stored[wanted.number], part.etag == etag else {
                throw StoreError(.invalidPart, "part \(wanted.number) was not uploaded or its ETag does not match")
            }
            if index < requested.count - 1 && part.size < Self.minimumPartSize {
                throw StoreError(.entityTooSmall, "part \(wanted.number) is \(part.size) bytes; all but the last must be at least 5 MiB")
            }
            chosen.append(part)
        }
        var digests = Data()
        for part in chosen {
            digests.append(contentsOf: stride(from: 0, to: part.etag.count, by: 2).compactMap { offset -> UInt8? in
                let start = part.etag.index(part.etag.startIndex, offsetBy: offset)
                return UInt8(part.etag[start..<part.etag.index(start, offsetBy: 2)], radix: 16)
            })
        }
        let etag = Insecure.MD5.hash(data: digests).map { String(format: "%02x", $0) }.joined() + "-\(chosen.count)"

        let body = try ObjectUpload(store: self, bucket: bucket, key: key)
        for part in chosen {
            try body.append(file: dataFolder + "/" + part.path)
        }
        let info = try body.commit(contentType: upload.contentType, access: upload.access, metadata: upload.metadata, headers: upload.headers, etag: etag,
                                   partSizes: chosen.map(\.size), condition: condition)
        try discardUpload(uploadID, completedAs: info)
        return info
    }

    /// The object an upload already completed made, while it is still in place: a
    /// repeated completion answers as the first did.
    func completedObject(_ uploadID: String, bucket: String, key: String) throws(StoreError) -> ObjectInfo? {
        try read { db in
            guard let etag = try String.fetchOne(db, sql: "SELECT etag FROM completedUpload WHERE id = ? AND bucket = ? AND key = ?",
                                                 arguments: [uploadID, bucket, key]),
                  let current = try Self.object(db, bucket: bucket, key: key), current.etag == etag else { return nil }
            return current
        }
    }

    public func abortMultipartUpload(uploadID: String, bucket: String, key: String) throws(StoreError) {
        _ = try multipartUpload(uploadID, bucket: bucket, key: key)
        try discardUpload(uploadID)
    }

    private func discardUpload(_ id: String, completedAs completed: ObjectInfo? = nil) throws(StoreError) {
        let paths: [String] = try write { db in
            if let completed {
                try db.execute(sql: "DELETE FROM completedUpload WHERE completed < ?", arguments: [Date().addingTimeInterval(-86_400)])
                try db.execute(sql: "INSERT OR REPLACE INTO completedUpload (id, bucket, key, etag, completed) VALUES (?, ?, ?, ?, ?)",
                               arguments: [id, completed.bucket, completed.key, completed.etag, Date()])
            }
            let paths = try String.fetchAll(db, sql: "SELECT path FROM multipartPart WHERE uploadId = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM multipartPart WHERE uploadId = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM multipartUpload WHERE id = ?", arguments: [id])
            return paths
        }
        for path in paths { unlink(dataFolder + "/" + path) }
    }

    /// Copies an object's body (kernel copy) to another key; its type, metadata and
    /// stored headers are kept unless `replacing` gives new ones (S3's
    /// `x-amz-metadata-directive: REPLACE`).
    public func copyObject(from source: (bucket: String, key: String), to bucket: String, key: String, access: AccessPolicy,
                           replacing: (contentType: String?, metadata: [String: String], headers: [String: String])?) throws(StoreError) -> ObjectInfo {
        let original = try headObject(bucket: source.bucket, key: source.key)
        let body = try beginUpload(bucket: bucket, key: key)
        try body.append(file: bodyPath(original))
        guard body.size == original.size else {
            body.abort()
            throw StoreError(.internalError, "the body of \(source.bucket)/\(source.key) changed while it was copied")
        }
        return try body.commit(contentType: replacing.map { $0.contentType ?? original.contentType } ?? original.contentType,
                               access: access, metadata: replacing?.metadata ?? original.metadata, headers: replacing?.headers ?? original.headers,
                               etag: original.etag)
    }
}
