import Foundation
import Logging
import SluiceCommandLine
import SluiceControl
import SluiceRTMP
import SluiceStore
import Synchronization

/// Keeps the RTMP router's table in step with the distributions in the data folder,
/// which the control API and `sluice distribution` change (from other processes too):
/// it looks once a second, swaps in a new table when anything changed, and then marks
/// the changed distributions Deployed, which is when CloudFront said so too.
final class DistributionSync: Sendable {
    let store: DistributionStore
    let router: DistributionRouter
    let defaultBucket: String?
    let logger: Logger
    /// Told the distributions whenever they change (the access logs' targets).
    let onChange: @Sendable ([Distribution]) -> Void
    private let seen = Mutex<[String: String]>([:])
    private let stopped = Atomic<Bool>(false)

    init(store: DistributionStore, defaultBucket: String?, logger: Logger, onChange: @escaping @Sendable ([Distribution]) -> Void = { _ in }) throws {
        self.store = store
        self.defaultBucket = defaultBucket
        self.logger = logger
        self.onChange = onChange
        router = DistributionRouter(RoutingTable(defaultBucket: defaultBucket))
        try refresh()
    }

    /// Reads the distributions; when any changed, swaps the routing table and marks
    /// them Deployed.
    func refresh() throws {
        let current = try store.versions()
        let unchanged = seen.withLock { $0 == current.mapValues(\.etag) } && current.values.allSatisfy(\.deployed)
        guard !unchanged else { return }
        let distributions = try store.all()
        let versions = Dictionary(uniqueKeysWithValues: distributions.map { ($0.id, $0.etag) })
        router.update(Self.table(distributions, defaultBucket: defaultBucket))
        onChange(distributions)
        seen.withLock { $0 = versions }
        for distribution in distributions where distribution.status == .inProgress {
            try store.markDeployed(distribution.id, etag: distribution.etag)
            logger.info("distribution \(distribution.id) (\(distribution.domainName)) deployed: \(distribution.config.enabled ? "enabled" : "disabled"), origin bucket \(distribution.bucket)")
        }
    }

    static func table(_ distributions: [Distribution], defaultBucket: String?) -> RoutingTable {
        var hosts: [String: RoutingTable.Entry] = [:]
        for distribution in distributions {
            let entry: RoutingTable.Entry
            switch distribution.kind {
            case .streaming: entry = distribution.config.enabled ? .streaming(bucket: distribution.bucket, distributionID: distribution.id) : .disabled
            case .basic: entry = .basic
            }
            for host in [distribution.domainName] + distribution.config.aliases { hosts[host.lowercased()] = entry }
        }
        return RoutingTable(hosts: hosts, defaultBucket: defaultBucket)
    }

    /// Looks every second until `stop`.
    func start() {
        let thread = Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: 1)
                do {
                    try refresh()
                } catch {
                    logger.warning("distributions: cannot read them: \(error)")
                }
            }
        }
        thread.name = "sluice-distributions"
        thread.start()
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
    }
}

extension DistributionStore {
    /// The data folder's distributions, for a store of buckets.
    static func open(folder: String, settings: Settings, store: any ObjectStore) throws -> DistributionStore {
        let domains = settings.string("s3.domain").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return try DistributionStore(dataFolder: folder, domainSuffix: settings.string("distributions.domain"),
                                     s3Domains: domains) { (try? store.bucketExists($0)) == true }
    }
}
