import Crypto
import Foundation
import GRDB
import SluiceMedia

/// The embedded store: buckets and objects in the data folder. Metadata lives in SQLite
/// (`sluice.sqlite`, WAL, so the server and CLI commands share it safely); bodies are
/// files under `objects/`, each written once and never changed.
///
/// A put writes a new body, syncs it to disk, then switches the object's row to it in one
/// transaction and only then removes the old body: a reader sees the old object or the
/// new one, never part of one, also after a crash (orphan bodies are swept on open).
/// Files that sat in `buckets/NAME/` before the store existed are registered in place as
/// public-read, so what played before still plays.
public final class LocalObjectStore: Sendable {
    public let dataFolder: String
    let database: DatabasePool
    let playLookups: PlayLookupCache

    public init(dataFolder: String) throws(StoreError) {
        self.dataFolder = dataFolder
        do {
            try FileManager.default.createDirectory(atPath: dataFolder + "/objects", withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            database = try DatabasePool(path: dataFolder + "/sluice.sqlite", configuration: configuration)
            try Self.migrator.migrate(database)
            playLookups = PlayLookupCache(dataFolder: dataFolder)
        } catch {
            throw StoreError(.internalError, "cannot open the store in \(dataFolder): \(error)")
        }
        try sweepOrphans()
    }

    // MARK: Objects

    /// Starts an upload; append the body, then commit it.
    public func beginUpload(bucket: String, key: String) throws(StoreError) -> ObjectUpload {
        guard ObjectKey.isStorable(key) else {
            throw StoreError(.invalidKey, "'\(key)' is not a key Sluice can store (1 to 1024 bytes, no NUL, no '.' or '..' between slashes)")
        }
        guard try bucketExists(bucket) else { throw StoreError(.noSuchBucket, "no bucket named \(bucket)") }
        return try ObjectUpload(store: self, bucket: bucket, key: key)
    }

    /// Stores a whole body at once.
    @discardableResult
    public func putObject(bucket: String, key: String, data: Data, contentType: String? = nil, acl: ObjectACL = .private,
                          metadata: [String: String] = [:]) throws(StoreError) -> ObjectInfo {
        let upload = try beginUpload(bucket: bucket, key: key)
        try upload.append(data)
        return try upload.commit(contentType: contentType, access: AccessPolicy(acl), metadata: metadata)
    }

    /// Stores a file's contents, streamed (a 2 GB file never sits in memory).
    @discardableResult
    public func putObject(bucket: String, key: String, file: String, contentType: String? = nil, acl: ObjectACL = .private,
                          metadata: [String: String] = [:]) throws(StoreError) -> ObjectInfo {
        guard let handle = FileHandle(forReadingAtPath: file) else { throw StoreError(.internalError, "cannot read \(file)") }
        defer { try? handle.close() }
        let upload = try beginUpload(bucket: bucket, key: key)
        do {
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                try upload.append(chunk)
            }
        } catch let error as StoreError {
            upload.abort()
            throw error
        } catch {
            upload.abort()
            throw StoreError(.internalError, "cannot read \(file): \(error.localizedDescription)")
        }
        return try upload.commit(contentType: contentType, access: AccessPolicy(acl), metadata: metadata)
    }

    public func headObject(bucket: String, key: String) throws(StoreError) -> ObjectInfo {
        guard let info = try read({ db in try Self.object(db, bucket: bucket, key: key) }) else {
            guard try bucketExists(bucket) else { throw StoreError(.noSuchBucket, "no bucket named \(bucket)") }
            throw StoreError(.noSuchKey, "no object \(key) in \(bucket)")
        }
        return info
    }

    /// The object, or nil when there is none.
    public func findObject(bucket: String, key: String) throws(StoreError) -> ObjectInfo? {
        try read { db in try Self.object(db, bucket: bucket, key: key) }
    }

    /// The absolute path of an object's body, for reading.
    public func bodyPath(_ info: ObjectInfo) -> String { dataFolder + "/" + info.path }

    /// The body file of a public-read object, or nil when there is none: all the RTMP
    /// server needs to play it. This runs on every play, on the event loop: the answer is
    /// cached until the store is next written (`PlayLookupCache`), and otherwise it is one
    /// prepared statement and no transaction (a single SELECT is consistent on its own).
    public func publicBodyPath(bucket: String, key: String) -> String? {
        let path = playLookups.path(bucket: bucket, key: key) {
            let found = try? database.unsafeRead { db in
                try String.fetchOne(db.cachedStatement(sql: "SELECT path FROM object WHERE bucket = ? AND key = ? AND acl = ?"),
                                    arguments: [bucket, key, ObjectACL.publicRead.rawValue])
            }
            return found.flatMap { $0 }
        }
        return path.map { dataFolder + "/" + $0 }
    }

    public func getObjectData(bucket: String, key: String) throws(StoreError) -> Data {
        let info = try headObject(bucket: bucket, key: key)
        guard let data = FileManager.default.contents(atPath: bodyPath(info)) else {
            throw StoreError(.internalError, "the body of \(bucket)/\(key) is missing")
        }
        return data
    }

    public func deleteObject(bucket: String, key: String) throws(StoreError) {
        try deleteObject(bucket: bucket, key: key, if: nil)
    }

    /// Deletes the object if `condition` holds for it, checked in the deleting
    /// transaction; a missing object is not an error, whatever the condition.
    public func deleteObject(bucket: String, key: String, if condition: DeleteCondition?) throws(StoreError) {
        let removed: String? = try write { db in
            guard let info = try Self.object(db, bucket: bucket, key: key) else { return nil }
            if let condition, !condition.holds(for: info) {
                throw StoreError(.preconditionFailed, "\(bucket)/\(key) does not match the delete's conditions")
            }
            try db.execute(sql: "DELETE FROM object WHERE bucket = ? AND key = ?", arguments: [bucket, key])
            return info.path
        }
        if let removed { unlink(dataFolder + "/" + removed) }
    }

    /// Makes an object private or public-read, for its owner.
    public func setACL(bucket: String, key: String, acl: ObjectACL) throws(StoreError) {
        try setAccess(bucket: bucket, key: key, access: AccessPolicy(acl, owner: try headObject(bucket: bucket, key: key).access.owner))
    }

    public func setAccess(bucket: String, key: String, access: AccessPolicy) throws(StoreError) {
        _ = try headObject(bucket: bucket, key: key)
        try write { db in
            try db.execute(sql: "UPDATE object SET acl = ?, owner = ?, grants = ? WHERE bucket = ? AND key = ?",
                           arguments: [access.acl.rawValue, access.owner, access.grantsText, bucket, key])
        }
    }

    /// Objects in key order after `continuationToken`, grouped by `delimiter` into common
    /// prefixes as S3's ListObjectsV2 does.
    public func listObjects(bucket: String, prefix: String = "", delimiter: String? = nil, continuationToken: String? = nil,
                            maxKeys: Int = 1000) throws(StoreError) -> ObjectListing {
        guard try bucketExists(bucket) else { throw StoreError(.noSuchBucket, "no bucket named \(bucket)") }
        let after = continuationToken.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let limit = max(0, min(maxKeys, 1000))
        var listing = ObjectListing(objects: [], commonPrefixes: [], isTruncated: false, nextContinuationToken: nil)
        var lastKey = after
        // Read in batches until the page is full: prefixes fold many keys into one entry.
        while listing.objects.count + listing.commonPrefixes.count < limit {
            let rows: [ObjectInfo] = try read { db in
                try Row.fetchAll(db, sql: """
                    SELECT * FROM object WHERE bucket = ? AND key > ? AND substr(key, 1, ?) = ? ORDER BY key LIMIT 500
                    """, arguments: [bucket, lastKey, prefix.unicodeScalars.count, prefix]).map(Self.info)
            }
            if rows.isEmpty { return listing }
            for info in rows {
                if listing.objects.count + listing.commonPrefixes.count >= limit {
                    listing.isTruncated = true
                    listing.nextContinuationToken = Data(lastKey.utf8).base64EncodedString()
                    return listing
                }
                let rest = info.key.dropFirst(prefix.count)
                if let delimiter, !delimiter.isEmpty, let range = rest.range(of: delimiter) {
                    let common = prefix + rest[..<range.upperBound]
                    if listing.commonPrefixes.last != common { listing.commonPrefixes.append(common) }
                    // Skip every key under this prefix in one step.
                    lastKey = common + "\u{10FFFF}"
                    break
                }
                listing.objects.append(info)
                lastKey = info.key
            }
        }
        let more: Bool = try read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM object WHERE bucket = ? AND key > ? AND substr(key, 1, ?) = ? LIMIT 1",
                              arguments: [bucket, lastKey, prefix.unicodeScalars.count, prefix]) == true
        }
        if more {
            listing.isTruncated = true
            listing.nextContinuationToken = Data(lastKey.utf8).base64EncodedString()
        }
        return listing
    }

    // MARK: Import

    /// Registers files found in `buckets/NAME/` that the store does not know, as public-read
    /// objects in bucket NAME, in place. Returns how many were added.
    @discardableResult
    public func importBucketFolders() throws(StoreError) -> Int {
        let root = dataFolder + "/buckets"
        let manager = FileManager.default
        guard let names = try? manager.contentsOfDirectory(atPath: root) else { return 0 }
        var added = 0
        for bucket in names.sorted() where ObjectKey.isValidBucketName(bucket) {
            var isFolder: ObjCBool = false
            guard manager.fileExists(atPath: root + "/" + bucket, isDirectory: &isFolder), isFolder.boolValue else { continue }
            if try !bucketExists(bucket) { try createBucket(bucket) }
            guard let walker = manager.enumerator(atPath: root + "/" + bucket) else { continue }
            while let relative = walker.nextObject() as? String {
                let path = root + "/" + bucket + "/" + relative
                guard manager.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue,
                      !relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }), ObjectKey.isSafe(relative)
                else { continue }
                let known = try read { db in try Bool.fetchOne(db, sql: "SELECT 1 FROM object WHERE bucket = ? AND key = ?", arguments: [bucket, relative]) == true }
                if known { continue }
                let (etag, size) = try Self.md5(ofFile: path)
                let info = ObjectInfo(bucket: bucket, key: relative, size: size, etag: etag, contentType: Self.contentType(for: relative),
                                      acl: .publicRead, metadata: [:], lastModified: Date(), path: "buckets/" + bucket + "/" + relative)
                try write { db in try Self.insertOrReplace(db, info) }
                added += 1
            }
        }
        return added
    }

    // MARK: Internals

    func read<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try database.read(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.internalError, "store read failed: \(error)")
        }
    }

    @discardableResult
    func write<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        // After the commit (or the rollback): a reader that sees the new stamp reads anew.
        defer { playLookups.storeChanged() }
        do {
            return try database.write(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.internalError, "store write failed: \(error)")
        }
    }

    static func info(_ row: Row) -> ObjectInfo {
        var info = ObjectInfo(bucket: row["bucket"], key: row["key"], size: row["size"], etag: row["etag"], contentType: row["contentType"],
                              access: AccessPolicy.stored(owner: row["owner"], grants: row["grants"], acl: row["acl"]),
                              metadata: metadata(row["metadata"]), headers: metadata(row["headers"]), lastModified: row["lastModified"],
                              path: row["path"])
        // Sizes that do not add up to the body (never written so) are ignored, not trusted.
        info.partSizes = partSizes(row["partSizes"]).flatMap { sizes in
            var total: Int64? = 0
            for size in sizes {
                guard size >= 0, let sum = total else { total = nil; break }
                let (next, overflow) = sum.addingReportingOverflow(size)
                total = overflow ? nil : next
            }
            return total == info.size ? sizes : nil
        }
        return info
    }

    static func object(_ db: Database, bucket: String, key: String) throws -> ObjectInfo? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM object WHERE bucket = ? AND key = ?"), arguments: [bucket, key]).map(info)
    }

    /// "5242880,1000" as stored; nil for an object put whole.
    static func partSizes(_ text: String?) -> [Int64]? {
        guard let text else { return nil }
        let sizes = text.split(separator: ",").compactMap { Int64($0) }
        return sizes.isEmpty ? nil : sizes
    }

    static func metadataText(_ metadata: [String: String]) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: metadata, options: [.sortedKeys])) ?? Data("{}".utf8), as: UTF8.self)
    }

    static func metadata(_ text: String) -> [String: String] {
        if text == "{}" { return [:] }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: String] ?? [:]
    }

    static func insertOrReplace(_ db: Database, _ info: ObjectInfo) throws {
        try db.execute(sql: """
            INSERT OR REPLACE INTO object (bucket, key, size, etag, contentType, acl, owner, grants, metadata, headers, lastModified, path,
                                           partSizes)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [info.bucket, info.key, info.size, info.etag, info.contentType, info.acl.rawValue, info.access.owner,
                             info.access.grantsText, metadataText(info.metadata), metadataText(info.headers), info.lastModified, info.path,
                             info.partSizes.map { $0.map(String.init).joined(separator: ",") }])
    }

    /// Switches an object to a freshly written body; returns the body it replaced.
    func commit(_ info: ObjectInfo, condition: WriteCondition? = nil) throws(StoreError) -> String? {
        try write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM bucket WHERE name = ?", arguments: [info.bucket]) == true else {
                throw StoreError(.noSuchBucket, "no bucket named \(info.bucket)")
            }
            let previous = try Self.object(db, bucket: info.bucket, key: info.key)
            switch condition {
            case .absent? where previous != nil:
                throw StoreError(.preconditionFailed, "an object named \(info.key) exists (If-None-Match: *)")
            case .notMatching(let etag)? where previous?.etag == etag:
                throw StoreError(.preconditionFailed, "the object's ETag is \(etag) (If-None-Match)")
            case .present? where previous == nil, .matching? where previous == nil:
                throw StoreError(.noSuchKey, "no object named \(info.key) to match (If-Match)")
            case .matching(let etag)? where previous?.etag != etag:
                throw StoreError(.preconditionFailed, "the object's ETag is not \(etag) (If-Match)")
            default:
                break
            }
            try Self.insertOrReplace(db, info)
            return previous?.path
        }
    }

    /// Removes bodies no row points at: uploads a crash interrupted.
    func sweepOrphans() throws(StoreError) {
        let referenced = Set(try read { db in
            try String.fetchAll(db, sql: "SELECT path FROM object WHERE path LIKE 'objects/%' UNION SELECT path FROM multipartPart")
        })
        let manager = FileManager.default
        guard let walker = manager.enumerator(atPath: dataFolder + "/objects") else { return }
        while let relative = walker.nextObject() as? String {
            let path = "objects/" + relative
            var isFolder: ObjCBool = false
            guard manager.fileExists(atPath: dataFolder + "/" + path, isDirectory: &isFolder), !isFolder.boolValue else { continue }
            if !referenced.contains(path) { unlink(dataFolder + "/" + path) }
        }
    }

    static func md5(ofFile path: String) throws(StoreError) -> (String, Int64) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw StoreError(.internalError, "cannot read \(path)") }
        defer { try? handle.close() }
        var hash = Insecure.MD5()
        var size: Int64 = 0
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hash.update(data: chunk)
            size += Int64(chunk.count)
        }
        return (hash.finalize().map { String(format: "%02x", $0) }.joined(), size)
    }

    /// The content type a key's extension suggests.
    public static func contentType(for key: String) -> String {
        switch (key as NSString).pathExtension.lowercased() {
        case "flv": return "video/x-flv"
        case "mp4", "f4v", "m4v": return "video/mp4"
        case "mov": return "video/quicktime"
        case "mp3": return "audio/mpeg"
        case "m4a": return "audio/mp4"
        case "f4m": return "application/f4m+xml"
        case "smil": return "application/smil+xml"
        case "json": return "application/json"
        case "xml": return "application/xml"
        case "html", "htm": return "text/html"
        case "txt": return "text/plain"
        case "jpg", "jpeg": return "image/jpeg"
        case "png": return "image/png"
        case "swf": return "application/x-shockwave-flash"
        default: return "application/octet-stream"
        }
    }
}

extension LocalObjectStore: ObjectStore {
    public var location: String { "the data folder \(dataFolder)" }

    @discardableResult
    public func getObject(bucket: String, key: String, toFile file: String) throws(StoreError) -> ObjectInfo {
        let info = try headObject(bucket: bucket, key: key)
        unlink(file)
        do {
            try FileManager.default.copyItem(atPath: bodyPath(info), toPath: file)
        } catch {
            throw StoreError(.internalError, "cannot write \(file): \(error.localizedDescription)")
        }
        return info
    }
}
