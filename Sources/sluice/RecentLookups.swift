import Foundation
import NIOCore
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
        /// A small object's answer (its headers and body), made once and kept as long as
        /// the lookup (see `keep`).
        var prepared: Prepared?
    }

    private struct Table {
        var entries: [Key: Entry] = [:]
        var bodyBytes = 0

        mutating func remove(_ key: Key) {
            if let prepared = entries.removeValue(forKey: key)?.prepared { bodyBytes -= prepared.body.readableBytes }
        }
    }

    let lifetime: Duration
    /// Beyond this many entries the table starts over (a crawl of many keys must not grow it).
    let capacity: Int
    /// The most body bytes kept at once.
    let bodyCapacity: Int
    private let table = Mutex(Table())

    init(lifetime: Duration = .seconds(1), capacity: Int = 10_000, bodyCapacity: Int = 32 << 20) {
        self.lifetime = lifetime
        self.capacity = capacity
        self.bodyCapacity = bodyCapacity
    }

    /// The remembered answer, if it is recent.
    func recall(_ key: Key, now: ContinuousClock.Instant = .now) -> Found? {
        table.withLock { table -> Found? in
            guard let entry = table.entries[key] else { return nil }
            guard entry.until > now else {
                table.remove(key)
                return nil
            }
            return entry.found
        }
    }

    /// A small object's headers and body, as its answer carries them.
    struct Prepared: Sendable {
        var headers: [(String, String)]
        var body: ByteBuffer
    }

    /// The answer kept with a recent lookup.
    func prepared(for key: Key, now: ContinuousClock.Instant = .now) -> Prepared? {
        table.withLock { table in
            guard let entry = table.entries[key], entry.until > now else { return nil }
            return entry.prepared
        }
    }

    /// Keeps a small object's answer with its lookup, for the lookup's lifetime, while
    /// the bodies kept stay within `bodyCapacity`: a hot object is then answered without
    /// opening and reading its file, or formatting its headers, each time.
    func keep(_ prepared: Prepared, for key: Key) {
        table.withLock { table in
            guard table.entries[key] != nil, table.entries[key]?.prepared == nil,
                  table.bodyBytes + prepared.body.readableBytes <= bodyCapacity else { return }
            table.entries[key]?.prepared = prepared
            table.bodyBytes += prepared.body.readableBytes
        }
    }

    func remember(_ found: Found, for key: Key, now: ContinuousClock.Instant = .now) {
        table.withLock { table in
            if table.entries.count >= capacity { table = Table() }
            table.remove(key)
            table.entries[key] = Entry(found: found, until: now + lifetime)
        }
    }

    /// After a body could not be opened: the object changed, look again.
    func forget(_ key: Key) {
        table.withLock { $0.remove(key) }
    }
}
