import Foundation
import Logging
import SluiceMedia
#if canImport(Glibc)
import Glibc
#endif

/// The RTMP server's view of a store whose bodies are not on this machine: a public-read
/// object is fetched whole into a local cache on its first play (as a Flash Media Server
/// edge did), then played from disk like any file. Each open checks the object's ETag and
/// ACL with the store (at most once per `recheckAfter` seconds), so a replaced object plays
/// its new body and an object made private stops playing.
public final class CachingMediaLibrary: MediaLibrary, @unchecked Sendable {
    public let store: any ObjectStore
    public let folder: String
    /// The cache is trimmed, least recently played first, to this many bytes.
    public let capacity: Int64
    public let recheckAfter: TimeInterval
    let logger: Logger

    /// Guards `checked` and `fetching`; waits for a fetch of the same object to finish.
    private let lock = NSCondition()
    private var checked: [String: (info: ObjectInfo, path: String, at: Date)] = [:]
    private var fetching: Set<String> = []

    public init(store: any ObjectStore, folder: String, capacity: Int64 = 10 << 30, recheckAfter: TimeInterval = 5, logger: Logger) {
        self.store = store
        self.folder = folder
        self.capacity = capacity
        self.recheckAfter = recheckAfter
        self.logger = logger
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    /// Opening may wait on the network: never on an event loop.
    public var opensWithoutWaiting: Bool { false }

    public func openMedia(bucket: String, key: String) -> MediaFile? {
        // Twice: the copy may be trimmed away between the check and the open.
        for _ in 0..<2 {
            guard case .cached(_, let path) = cachedObject(bucket: bucket, key: key) else { return nil }
            if let file = MediaFile(path: path) { return file }
            lock.lock()
            checked[bucket + "/" + key] = nil
            lock.unlock()
        }
        return nil
    }

    /// What an object is to a public client of this machine (the RTMP server, the public
    /// HTTP port).
    public enum CachedObject: Sendable {
        case missing
        /// It exists, but is not public-read: not fetched.
        case notPublic
        /// Its body, on this machine, and what the store says about it.
        case cached(ObjectInfo, path: String)
    }

    /// The object's local copy, fetched first when there is none of its current version.
    /// Blocks on the network: never on an event loop.
    public func cachedObject(bucket: String, key: String) -> CachedObject {
        guard ObjectKey.isValidBucketName(bucket), ObjectKey.isSafe(key) else { return .missing }
        let id = bucket + "/" + key
        if let (info, path) = recentlyChecked(id), access(path, F_OK) == 0 {
            touch(path)
            return .cached(info, path: path)
        }
        let info: ObjectInfo
        do {
            info = try store.headObject(bucket: bucket, key: key)
        } catch {
            if error.code != .noSuchKey && error.code != .noSuchBucket { logger.warning("cannot check \(id): \(error)") }
            if error.code == .noSuchKey { forget(id, bucket: bucket, key: key) }
            return .missing
        }
        guard info.acl == .publicRead else {
            forget(id, bucket: bucket, key: key)
            return .notPublic
        }
        // The ETag names the cached copy: a replaced object never reuses an old body.
        let path = folder + "/" + bucket + "/" + key + ".etag-" + info.etag
        claim(id)
        defer { release(id) }
        if access(path, F_OK) != 0 {
            do {
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let started = Date()
                try store.getObject(bucket: bucket, key: key, toFile: path)
                logger.info("cached \(id) (\(info.size) bytes in \(String(format: "%.2f", Date().timeIntervalSince(started))) s)")
            } catch {
                logger.warning("cannot fetch \(id) into the cache: \(error)")
                return .missing
            }
            removeOtherVersions(of: path, key: key)
            trim(keeping: path)
        }
        touch(path)
        lock.lock()
        checked[id] = (info, path, Date())
        lock.unlock()
        return .cached(info, path: path)
    }

    private func recentlyChecked(_ id: String) -> (ObjectInfo, String)? {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = checked[id], Date().timeIntervalSince(entry.at) < recheckAfter else { return nil }
        return (entry.info, entry.path)
    }

    /// Drops a deleted or no longer public object from the cache.
    private func forget(_ id: String, bucket: String, key: String) {
        lock.lock()
        checked[id] = nil
        lock.unlock()
        removeOtherVersions(of: folder + "/" + bucket + "/" + key + ".etag-", key: key)
    }

    /// One fetch per object at a time; later players wait for it and share the copy.
    private func claim(_ id: String) {
        lock.lock()
        while fetching.contains(id) { lock.wait() }
        fetching.insert(id)
        lock.unlock()
    }

    private func release(_ id: String) {
        lock.lock()
        fetching.remove(id)
        lock.broadcast()
        lock.unlock()
    }

    /// The modification time records the last play, for trimming.
    private func touch(_ path: String) { utime(path, nil) }

    private func removeOtherVersions(of path: String, key: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let stem = (key as NSString).lastPathComponent + ".etag-"
        let keep = (path as NSString).lastPathComponent
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where entry.hasPrefix(stem) && entry != keep && !entry.contains(".part-") {
            // Players of the old version hold its descriptor and finish undisturbed.
            unlink(directory + "/" + entry)
        }
    }

    /// Deletes least recently played copies until the cache fits its capacity.
    private func trim(keeping current: String) {
        var files: [(path: String, size: Int64, used: Date)] = []
        var total: Int64 = 0
        let enumerator = FileManager.default.enumerator(atPath: folder)
        while let relative = enumerator?.nextObject() as? String {
            let path = folder + "/" + relative
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), attributes[.type] as? FileAttributeType == .typeRegular
            else { continue }
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
            total += size
            files.append((path, size, attributes[.modificationDate] as? Date ?? .distantPast))
        }
        guard total > capacity else { return }
        for file in files.sorted(by: { $0.used < $1.used }) where file.path != current {
            unlink(file.path)
            total -= file.size
            logger.info("cache: removed \(file.path.dropFirst(folder.count + 1)) to stay under \(capacity) bytes")
            if total <= capacity { break }
        }
    }
}
