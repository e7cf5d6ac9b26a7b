import Crypto
import Foundation

/// One object body being written: appended in pieces (so large bodies stream), hashed as
/// it goes, then committed atomically or aborted without a trace.
public final class ObjectUpload {
    let store: LocalObjectStore
    public let bucket: String
    public let key: String
    /// Relative to the data folder: `objects/XY/UUID`.
    let relativePath: String
    private let handle: FileHandle
    private var hash = Insecure.MD5()
    public private(set) var size: Int64 = 0
    private var finished = false

    init(store: LocalObjectStore, bucket: String, key: String) throws(StoreError) {
        self.store = store
        self.bucket = bucket
        self.key = key
        let id = UUID().uuidString.lowercased()
        relativePath = "objects/" + id.prefix(2) + "/" + id
        let path = store.dataFolder + "/" + relativePath
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        } catch {
            throw StoreError(.internalError, "cannot create a folder for \(bucket)/\(key): \(error.localizedDescription)")
        }
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw StoreError(.internalError, "cannot write \(path)")
        }
        self.handle = handle
    }

    deinit {
        if !finished { abort() }
    }

    public func append(_ data: Data) throws(StoreError) {
        do {
            try handle.write(contentsOf: data)
        } catch {
            abort()
            throw StoreError(.internalError, "cannot write \(bucket)/\(key): \(error.localizedDescription)")
        }
        hash.update(data: data)
        size += Int64(data.count)
    }

    /// Syncs the body to disk and makes it the object's current version.
    @discardableResult
    public func commit(contentType: String? = nil, acl: ObjectACL = .private, metadata: [String: String] = [:]) throws(StoreError) -> ObjectInfo {
        guard !finished else { throw StoreError(.internalError, "upload of \(bucket)/\(key) already finished") }
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            abort()
            throw StoreError(.internalError, "cannot sync \(bucket)/\(key): \(error.localizedDescription)")
        }
        finished = true
        let info = ObjectInfo(bucket: bucket, key: key, size: size, etag: hash.finalize().map { String(format: "%02x", $0) }.joined(),
                              contentType: contentType ?? LocalObjectStore.contentType(for: key), acl: acl, metadata: metadata,
                              lastModified: Date(), path: relativePath)
        let replaced: String?
        do {
            replaced = try store.commit(info)
        } catch {
            unlink(store.dataFolder + "/" + relativePath)
            throw error
        }
        if let replaced, replaced != relativePath { unlink(store.dataFolder + "/" + replaced) }
        return info
    }

    public func abort() {
        guard !finished else { return }
        finished = true
        try? handle.close()
        unlink(store.dataFolder + "/" + relativePath)
    }
}
