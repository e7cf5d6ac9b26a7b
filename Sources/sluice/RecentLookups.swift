import Foundation
import SluiceStore
import Synchronization

/// What the public HTTP port found for a bucket and key in the last second, found or not.
/// A basic distribution answers most requests for a few hot objects; looking each up in
/// SQLite on the thread pool cost more than the rest of the request. An edge serving
/// what its origin held a second ago is what a CDN does (CloudFront held objects for
/// their TTL, a day by default); a change made through the S3 API or `sluice bucket`
/// shows within a second.
final class RecentLookups: Sendable {
    struct Key: Hashable, Sendable {
        var bucket: String
        var key: String
    }

    /// What a lookup found.
    enum Found: Sendable {
        case missing
        case notPublic
        /// A public-read object and where its body is on this machine.
        case object(ObjectInfo, path: String)
    }

    private struct Entry {
        var found: Found
        var until: ContinuousClock.Instant
    }

    let lifetime: Duration
    /// Beyond this many entries the table starts over (a crawl of many keys must not grow it).
    let capacity: Int
    private let entries = Mutex<[Key: Entry]>([:])

    init(lifetime: Duration = .seconds(1), capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// The remembered answer, if it is recent.
    func recall(_ key: Key, now: ContinuousClock.Instant = .now) -> Found? {
        entries.withLock { entries -> Found? in
            guard let entry = entries[key] else { return nil }
            guard entry.until > now else {
                entries[key] = nil
                return nil
            }
            return entry.found
        }
    }

    func remember(_ found: Found, for key: Key, now: ContinuousClock.Instant = .now) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(found: found, until: now + lifetime)
        }
    }

    /// After a body could not be opened: the object changed, look again.
    func forget(_ key: Key) {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }
}
