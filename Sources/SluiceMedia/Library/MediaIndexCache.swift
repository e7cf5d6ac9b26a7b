import Synchronization

/// Parsed indexes (FLV keyframes, MP4 sample tables, MP3 frame offsets) shared by every
/// session that plays the same version of a file, so a popular file is scanned once.
///
/// Keyed by path, size and modification time: a replaced file is scanned anew. Bounded
/// by entry count, least recently used out first.
public final class MediaIndexCache: Sendable {
    private struct Entry {
        var value: any Sendable
        var lastUse: UInt64
    }

    private struct State {
        var entries: [MediaFile.FileIdentity: Entry] = [:]
        var clock: UInt64 = 0
    }

    private let state = Mutex(State())
    public let capacity: Int

    public init(capacity: Int = 256) {
        self.capacity = max(1, capacity)
    }

    public var count: Int { state.withLock { $0.entries.count } }

    /// Whether an index for this version of the file is cached (opening it then costs no scan).
    public func contains(_ identity: MediaFile.FileIdentity) -> Bool {
        state.withLock { $0.entries[identity] != nil }
    }

    /// The cached index of type `T` for `identity`, or the result of `build`, stored.
    /// `build` runs outside the lock: two sessions that miss at once may both build,
    /// which costs a scan but never blocks other files' sessions behind a slow disk.
    public func index<T: Sendable>(
        for identity: MediaFile.FileIdentity, build: () throws(MediaFormatError) -> T
    ) throws(MediaFormatError) -> T {
        let cached: T? = state.withLock { state in
            state.clock += 1
            guard var entry = state.entries[identity], let value = entry.value as? T else { return nil }
            entry.lastUse = state.clock
            state.entries[identity] = entry
            return value
        }
        if let cached { return cached }
        let built = try build()
        state.withLock { state in
            state.clock += 1
            state.entries[identity] = Entry(value: built, lastUse: state.clock)
            if state.entries.count > capacity,
               let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                state.entries.removeValue(forKey: oldest)
            }
        }
        return built
    }
}
