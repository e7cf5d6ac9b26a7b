import Foundation
import Synchronization

/// Answers "which body plays for BUCKET/KEY" without asking SQLite on every play. A play's
/// lookup through the database pool cost about 55 µs, most of a play's start-up time; the
/// answer changes only when the store is written.
///
/// Every write to the store, from any process on the data folder, leaves a new random
/// stamp in `sluice.changes` after its transaction commits. A cached answer is used only
/// while the stamp is the one it was read under (one 8-byte pread), and for at most
/// `maximumAge` in case a writer died between its commit and its stamp.
final class PlayLookupCache: Sendable {
    private let descriptor: Int32
    private let entries = Mutex<[String: Entry]>([:])
    let maximumAge: UInt64 = 5_000_000_000
    let capacity = 20_000

    struct Entry {
        var stamp: UInt64
        var at: UInt64
        var path: String?
    }

    init(dataFolder: String) {
        descriptor = open(dataFolder + "/sluice.changes", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if stamp() == 0 { storeChanged() }
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// The current stamp; 0 when the file cannot be read (then nothing is cached).
    func stamp() -> UInt64 {
        guard descriptor >= 0 else { return 0 }
        var value: UInt64 = 0
        return pread(descriptor, &value, 8, 0) == 8 ? value : 0
    }

    /// Called after every store write: readers everywhere drop what they cached.
    func storeChanged() {
        guard descriptor >= 0 else { return }
        var value = UInt64.random(in: 1...UInt64.max)
        _ = pwrite(descriptor, &value, 8, 0)
    }

    /// The cached answer, or `lookup`'s, remembered under the stamp read before it ran (a
    /// write that lands during the lookup changes the stamp, so its answer is not kept).
    func path(bucket: String, key: String, lookup: () -> String?) -> String? {
        let stamp = stamp()
        let name = bucket + "/" + key
        let now = DispatchTime.now().uptimeNanoseconds
        if stamp != 0, let entry = entries.withLock({ $0[name] }), entry.stamp == stamp, now - entry.at < maximumAge {
            return entry.path
        }
        let path = lookup()
        guard stamp != 0 else { return path }
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[name] = Entry(stamp: stamp, at: now, path: path)
        }
        return path
    }
}
