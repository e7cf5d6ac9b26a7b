import Crypto
import Foundation
import SluiceMedia
#if canImport(Glibc)
import Glibc
#endif

/// One body being written: appended in pieces (so large bodies stream), hashed as it
/// goes, synced, then committed atomically as an object (or a multipart part), or
/// aborted without a trace.
public final class ObjectUpload {
    let store: LocalObjectStore
    public let bucket: String
    public let key: String
    /// Relative to the data folder: `objects/XY/UUID`.
    let relativePath: String
    private var descriptor: Int32
    private var hash = Insecure.MD5()
    /// False once bytes arrived by a kernel copy: the caller supplies the ETag.
    private var hashCoversBody = true
    public private(set) var size: Int64 = 0
    private var finished = false

    init(store: LocalObjectStore, bucket: String, key: String) throws(StoreError) {
        self.store = store
        self.bucket = bucket
        self.key = key
        let id = UUID().uuidString.lowercased()
        relativePath = "objects/" + id.prefix(2) + "/" + id
        let path = store.dataFolder + "/" + relativePath
        let folder = (path as NSString).deletingLastPathComponent
        if mkdir(folder, 0o755) != 0 && errno != EEXIST {
            throw StoreError.fromErrno("cannot create a folder for \(bucket)/\(key)")
        }
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw StoreError.fromErrno("cannot write \(bucket)/\(key)") }
    }

    deinit {
        if !finished { abort() }
    }

    public func append(_ bytes: UnsafeRawBufferPointer) throws(StoreError) {
        guard !finished else { throw StoreError(.internalError, "upload of \(bucket)/\(key) already finished") }
        guard POSIXFile.writeAll(descriptor, bytes) else {
            let error = StoreError.fromErrno("cannot write \(bucket)/\(key)")
            abort()
            throw error
        }
        hash.update(bufferPointer: bytes)
        size += Int64(bytes.count)
    }

    public func append(_ data: Data) throws(StoreError) {
        do {
            try data.withUnsafeBytes { try append($0) }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.internalError, "\(error)")
        }
    }

    /// Appends a whole file by a kernel copy (sendfile: no trip through user space). The MD5 no
    /// longer covers the body afterwards: commit with an explicit ETag.
    func append(file path: String) throws(StoreError) {
        let source = open(path, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw StoreError.fromErrno("cannot read \(path)") }
        defer { close(source) }
        hashCoversBody = false
        var buffer: [UInt8] = []
        while true {
            let copied = sendfile(descriptor, source, nil, 1 << 30)
            if copied > 0 {
                size += Int64(copied)
                continue
            }
            if copied == 0 { return }
            if errno == EINTR { continue }
            if errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP {
                // Not supported between these files: copy through a buffer.
                if buffer.isEmpty { buffer = [UInt8](repeating: 0, count: 1 << 20) }
                let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress!, $0.count) }
                if count < 0 { if errno == EINTR { continue }; throw StoreError.fromErrno("cannot read \(path)") }
                if count == 0 { return }
                let chunk = Data(buffer[0..<count])
                try append(chunk)
                continue
            }
            let error = StoreError.fromErrno("cannot copy into \(bucket)/\(key)")
            abort()
            throw error
        }
    }

    /// Flushes the body to the disk; after this only the metadata switch remains.
    private func finishBody() throws(StoreError) -> String {
        guard !finished else { throw StoreError(.internalError, "upload of \(bucket)/\(key) already finished") }
        if fsync(descriptor) != 0 {
            let error = StoreError.fromErrno("cannot sync \(bucket)/\(key)")
            abort()
            throw error
        }
        close(descriptor)
        descriptor = -1
        finished = true
        return hash.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// The MD5 of what was appended, hex; the upload stays open.
    public var currentMD5: String? {
        hashCoversBody ? hash.finalize().map { String(format: "%02x", $0) }.joined() : nil
    }

    /// Syncs the body to disk and makes it the object's current version.
    @discardableResult
    public func commit(contentType: String? = nil, access: AccessPolicy = AccessPolicy(.private), metadata: [String: String] = [:],
                       headers: [String: String] = [:], etag: String? = nil, partSizes: [Int64]? = nil,
                       condition: WriteCondition? = nil) throws(StoreError) -> ObjectInfo {
        let md5 = try finishBody()
        var info = ObjectInfo(bucket: bucket, key: key, size: size, etag: etag ?? md5,
                              contentType: contentType ?? LocalObjectStore.contentType(for: key), access: access, metadata: metadata,
                              headers: headers, lastModified: Date(), path: relativePath)
        info.partSizes = partSizes
        let replaced: String?
        do {
            replaced = try store.commit(info, condition: condition)
        } catch {
            unlink(store.dataFolder + "/" + relativePath)
            throw error
        }
        if let replaced, replaced != relativePath { unlink(store.dataFolder + "/" + replaced) }
        return info
    }

    /// Syncs the body and records it as part `number` of a multipart upload.
    @discardableResult
    func commitPart(uploadID: String, number: Int) throws(StoreError) -> MultipartPart {
        let md5 = try finishBody()
        let part = MultipartPart(number: number, size: size, etag: md5, lastModified: Date(), path: relativePath)
        let replaced: String?
        do {
            replaced = try store.recordPart(uploadID: uploadID, part)
        } catch {
            unlink(store.dataFolder + "/" + relativePath)
            throw error
        }
        if let replaced, replaced != relativePath { unlink(store.dataFolder + "/" + replaced) }
        return part
    }

    public func abort() {
        guard !finished else { return }
        finished = true
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        unlink(store.dataFolder + "/" + relativePath)
    }
}
