import Foundation
import GRDB

/// Distributions in `DATA/distributions.sqlite` (WAL, shared by `sluice serve` and the
/// `sluice distribution` commands). Every change is one transaction that also checks
/// what CloudFront checks: caller references, CNAMEs unique across all distributions,
/// `If-Match`, disabled before delete.
public final class DistributionStore: Sendable {
    let database: DatabasePool
    let domainSuffix: String
    let s3Domains: [String]
    let bucketExists: @Sendable (String) -> Bool

    /// `domainSuffix` follows the generated names (`s5c39gqb8ow64r` + `.sluice.localhost`);
    /// `bucketExists` says whether an origin names a bucket of the store.
    public init(dataFolder: String, domainSuffix: String, s3Domains: [String], bucketExists: @escaping @Sendable (String) -> Bool) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        database = try DatabasePool(path: dataFolder + "/distributions.sqlite", configuration: configuration)
        self.domainSuffix = domainSuffix.hasPrefix(".") ? domainSuffix : "." + domainSuffix
        self.s3Domains = s3Domains
        self.bucketExists = bucketExists
        try Self.migrator.migrate(database)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1 distributions") { db in
            try db.create(table: "distribution") { table in
                table.primaryKey("id", .text)
                table.column("kind", .text).notNull()
                table.column("callerReference", .text).notNull()
                table.column("domainName", .text).notNull().unique()
                table.column("config", .text).notNull()
                table.column("bucket", .text).notNull()
                table.column("etag", .text).notNull()
                table.column("status", .text).notNull()
                table.column("lastModified", .datetime).notNull()
                table.uniqueKey(["kind", "callerReference"])
            }
            // Every CNAME or alias, lower-cased: one distribution each.
            try db.create(table: "alias") { table in
                table.primaryKey("name", .text)
                table.column("distributionId", .text).notNull().indexed().references("distribution", onDelete: .cascade)
            }
        }
        return migrator
    }

    // MARK: Reading

    public func get(_ kind: DistributionKind, _ id: String) throws -> Distribution {
        guard let found = try database.read({ db in try Self.fetch(db, id) }), found.kind == kind else { throw ControlError.noSuch(kind, id) }
        return found
    }

    /// The distribution with this id, of either kind.
    public func find(_ id: String) throws -> Distribution? {
        try database.read { db in try Self.fetch(db, id) }
    }

    /// Up to `maxItems` after `marker` (an id), in id order, and the marker of the next page.
    public func list(_ kind: DistributionKind, marker: String?, maxItems: Int) throws -> (items: [Distribution], nextMarker: String?) {
        let limit = max(0, min(maxItems, 1000))
        let rows = try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM distribution WHERE kind = ? AND id > ? ORDER BY id LIMIT ?",
                             arguments: [kind.rawValue, marker ?? "", limit + 1])
        }
        let items = try rows.prefix(limit).map(Self.distribution)
        return (items, rows.count > limit ? items.last?.id : nil)
    }

    /// Each distribution's id, current ETag and whether it is deployed: what a server
    /// polls to see whether anything changed, without decoding every config.
    public func versions() throws -> [String: (etag: String, deployed: Bool)] {
        let rows = try database.read { db in try Row.fetchAll(db, sql: "SELECT id, etag, status FROM distribution") }
        var result: [String: (etag: String, deployed: Bool)] = [:]
        for row in rows { result[row["id"]] = (row["etag"], (row["status"] as String) == DistributionStatus.deployed.rawValue) }
        return result
    }

    /// Every distribution, for the servers' routing table.
    public func all() throws -> [Distribution] {
        try database.read { db in try Row.fetchAll(db, sql: "SELECT * FROM distribution ORDER BY id") }.map(Self.distribution)
    }

    // MARK: Changing

    /// Creates a distribution, or gives back the one made earlier with the same caller
    /// reference and the same config (`created` false then).
    public func create(_ kind: DistributionKind, _ config: DistributionConfig) throws -> (distribution: Distribution, created: Bool) {
        let bucket = try check(kind, config)
        return try database.write { db in
            if let row = try Row.fetchOne(db, sql: "SELECT * FROM distribution WHERE kind = ? AND callerReference = ?",
                                          arguments: [kind.rawValue, config.callerReference]) {
                let existing = try Self.distribution(row)
                guard existing.config == config else { throw ControlError.alreadyExists(kind, existing.id) }
                return (existing, false)
            }
            var id = Self.identifier()
            while try Self.fetch(db, id) != nil { id = Self.identifier() }
            var domain = Self.domainLabel(kind) + domainSuffix
            while try Row.fetchOne(db, sql: "SELECT 1 FROM distribution WHERE domainName = ?", arguments: [domain]) != nil {
                domain = Self.domainLabel(kind) + domainSuffix
            }
            let distribution = Distribution(id: id, kind: kind, domainName: domain, config: config, etag: Self.identifier(),
                                            status: .inProgress, lastModified: Date(), bucket: bucket)
            try db.execute(sql: """
                INSERT INTO distribution (id, kind, callerReference, domainName, config, bucket, etag, status, lastModified)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id, kind.rawValue, config.callerReference, domain, try Self.json(config), bucket, distribution.etag,
                                 distribution.status.rawValue, distribution.lastModified])
            try Self.claim(db, aliases: config.aliases, for: id)
            // As stored (the database keeps times to the millisecond).
            return (try Self.fetch(db, id) ?? distribution, true)
        }
    }

    /// Replaces the config of the distribution whose current ETag is `ifMatch`.
    public func update(_ kind: DistributionKind, _ id: String, _ config: DistributionConfig, ifMatch: String?) throws -> Distribution {
        let bucket = try check(kind, config)
        return try database.write { db in
            guard let existing = try Self.fetch(db, id), existing.kind == kind else { throw ControlError.noSuch(kind, id) }
            try Self.checkIfMatch(ifMatch, existing)
            guard existing.config.callerReference == config.callerReference else {
                throw ControlError.illegalUpdate("The CallerReference of a distribution cannot change.")
            }
            var updated = existing
            updated.config = config
            updated.bucket = bucket
            updated.etag = Self.identifier()
            updated.status = .inProgress
            updated.lastModified = Date()
            try db.execute(sql: "UPDATE distribution SET config = ?, bucket = ?, etag = ?, status = ?, lastModified = ? WHERE id = ?",
                           arguments: [try Self.json(config), bucket, updated.etag, updated.status.rawValue, updated.lastModified, id])
            try db.execute(sql: "DELETE FROM alias WHERE distributionId = ?", arguments: [id])
            try Self.claim(db, aliases: config.aliases, for: id)
            return try Self.fetch(db, id) ?? updated
        }
    }

    /// Deletes a disabled distribution whose current ETag is `ifMatch`.
    public func delete(_ kind: DistributionKind, _ id: String, ifMatch: String?) throws {
        try database.write { db in
            guard let existing = try Self.fetch(db, id), existing.kind == kind else { throw ControlError.noSuch(kind, id) }
            try Self.checkIfMatch(ifMatch, existing)
            guard !existing.config.enabled else { throw ControlError.notDisabled(kind, id) }
            try db.execute(sql: "DELETE FROM distribution WHERE id = ?", arguments: [id])
        }
    }

    /// The servers applied the change that `etag` names: it is `Deployed`, unless a
    /// later change came meanwhile.
    public func markDeployed(_ id: String, etag: String) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE distribution SET status = ? WHERE id = ? AND etag = ?",
                           arguments: [DistributionStatus.deployed.rawValue, id, etag])
        }
    }

    // MARK: Checks

    /// What a config must satisfy before it is stored; returns the bucket it names.
    func check(_ kind: DistributionKind, _ config: DistributionConfig) throws(ControlError) -> String {
        if config.trustedSignersEnabled {
            throw .invalidArgument("TrustedSigners: signed URLs and cookies are not supported; set Enabled to false.")
        }
        guard config.callerReference.utf8.count <= 128 else { throw .invalidArgument("CallerReference is longer than 128 characters.") }
        guard config.comment.utf8.count <= 128 else { throw .invalidArgument("Comment is longer than 128 characters.") }
        for alias in config.aliases where !Self.isHostName(alias) {
            throw .invalidArgument("'\(alias.prefix(80))' is not a valid CNAME.")
        }
        guard Set(config.aliases.map { $0.lowercased() }).count == config.aliases.count else {
            throw .invalidArgument("A CNAME is listed twice.")
        }
        guard let bucket = OriginName.bucket(config.origin, s3Domains: s3Domains), bucketExists(bucket) else {
            throw .invalidOrigin(String(config.origin.prefix(200)))
        }
        if let logging = config.logging, logging.enabled {
            guard let target = OriginName.bucket(logging.bucket, s3Domains: s3Domains), bucketExists(target) else {
                throw .invalidArgument("The logging bucket \(logging.bucket.prefix(200)) does not exist.")
            }
        }
        return bucket
    }

    static func checkIfMatch(_ ifMatch: String?, _ existing: Distribution) throws(ControlError) {
        guard let ifMatch, !ifMatch.isEmpty else { throw .invalidIfMatch }
        guard ifMatch == existing.etag else { throw .preconditionFailed }
    }

    static func claim(_ db: Database, aliases: [String], for id: String) throws {
        for alias in aliases {
            let name = alias.lowercased()
            let taken = try Row.fetchOne(db, sql: "SELECT 1 FROM alias WHERE name = ? UNION SELECT 1 FROM distribution WHERE domainName = ?",
                                         arguments: [name, name])
            if taken != nil { throw ControlError.cnameExists(alias) }
            try db.execute(sql: "INSERT INTO alias (name, distributionId) VALUES (?, ?)", arguments: [name, id])
        }
    }

    /// Labels of letters, digits and hyphens, at most 253 characters.
    static func isHostName(_ name: String) -> Bool {
        guard (1...253).contains(name.utf8.count) else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.utf8.allSatisfy { ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x2A }
                && !label.hasPrefix("-") && !label.hasSuffix("-")
        }
    }

    // MARK: Rows

    static func fetch(_ db: Database, _ id: String) throws -> Distribution? {
        try Row.fetchOne(db, sql: "SELECT * FROM distribution WHERE id = ?", arguments: [id]).map(distribution)
    }

    static func distribution(_ row: Row) throws -> Distribution {
        let config = try JSONDecoder().decode(DistributionConfig.self, from: Data((row["config"] as String).utf8))
        return Distribution(id: row["id"], kind: DistributionKind(rawValue: row["kind"]) ?? .streaming, domainName: row["domainName"],
                            config: config, etag: row["etag"], status: DistributionStatus(rawValue: row["status"]) ?? .inProgress,
                            lastModified: row["lastModified"], bucket: row["bucket"])
    }

    static func json(_ config: DistributionConfig) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(config), as: UTF8.self)
    }

    /// `E` and 13 upper-case letters or digits, as CloudFront's ids and ETags look.
    static func identifier() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return "E" + String((0..<13).map { _ in alphabet.randomElement()! })
    }

    /// `s` (streaming) or `d` (basic) and 13 lower-case letters or digits.
    static func domainLabel(_ kind: DistributionKind) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return (kind == .streaming ? "s" : "d") + String((0..<13).map { _ in alphabet.randomElement()! })
    }
}
