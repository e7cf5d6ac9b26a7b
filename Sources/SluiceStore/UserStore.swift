import Crypto
import Foundation
import GRDB
import NIOPosix
import Synchronization

/// One access key and its secret.
public struct AccessKeyPair: Sendable, Equatable {
    public var accessKey: String
    public var secretKey: String

    public init(accessKey: String, secretKey: String) {
        self.accessKey = accessKey
        self.secretKey = secretKey
    }

    /// A new random pair: a 20-character access key starting SLUICE, a 40-character secret.
    public static func generate() -> AccessKeyPair {
        AccessKeyPair(accessKey: "SLUICE" + randomText(14, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
                      secretKey: randomText(40, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))
    }

    static func randomText(_ count: Int, alphabet: String) -> String {
        let characters = Array(alphabet)
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in characters[Int.random(in: 0..<characters.count, using: &generator)] })
    }

    /// An access key: 3 to 128 letters and digits (AWS makes 20; the secret is what guards).
    public static func isValidAccessKey(_ key: String) -> Bool {
        (3...128).contains(key.count) && key.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }
    }
}

/// A principal of the S3 API: S3's canonical user ID and display name, and its keys.
public struct StoreUser: Sendable, Equatable {
    /// S3's canonical user ID: 64 hex digits.
    public var id: String
    /// The display name S3 shows with the ID; unique, and what `sluice user` takes.
    public var name: String
    /// For grants by e-mail address (`emailAddress="…"`).
    public var email: String?
    /// Administrators sign the control API; the first one owns what the server makes.
    public var isAdministrator: Bool
    public var keys: [AccessKeyPair]
    public var created: Date

    public init(id: String, name: String, email: String? = nil, isAdministrator: Bool = false, keys: [AccessKeyPair] = [],
                created: Date = Date()) {
        self.id = id
        self.name = name
        self.email = email
        self.isAdministrator = isAdministrator
        self.keys = keys
        self.created = created
    }

    /// A new random canonical ID.
    public static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(format: "%016llx", generator.next() as UInt64) }.joined()
    }

    /// The ID a configured user without one gets: the same on every start.
    public static func stableID(name: String) -> String {
        SHA256.hash(data: Data(("sluice user " + name).utf8)).map { String(format: "%02x", $0) }.joined()
    }

    public static func isValidID(_ id: String) -> Bool {
        id.utf8.count == 64 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// 1 to 64 of letters, digits, `.`, `_`, `-`, `@`, `+`, `=`: what IAM allows in a name.
    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.count) && name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-@+=".unicodeScalars.contains($0))
        }
    }
}

/// The S3 API's users and their keys, in `DATA/users.sqlite` (mode 0600: it holds the
/// secrets). Its own file, because the object store may be an external service while the
/// users still sign the control API here; SQLite in WAL mode, so `sluice user` changes
/// reach a running server, which reads the table again within a second.
public final class UserStore: Sendable {
    let database: DatabasePool
    public let path: String

    public init(dataFolder: String) throws(StoreError) {
        path = dataFolder + "/users.sqlite"
        do {
            try FileManager.default.createDirectory(atPath: dataFolder, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: path) {
                // Created private before SQLite opens it: its WAL and shared-memory files
                // take the same mode.
                _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
            }
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA foreign_keys = ON") }
            database = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw StoreError(.internalError, "cannot open the users in \(path): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1 users and keys") { db in
            try db.create(table: "user") { table in
                table.primaryKey("id", .text)
                table.column("name", .text).notNull().unique()
                table.column("email", .text).unique()
                table.column("administrator", .boolean).notNull()
                table.column("created", .datetime).notNull()
            }
            try db.create(table: "accessKey") { table in
                table.primaryKey("accessKey", .text)
                table.column("userId", .text).notNull().indexed().references("user", onDelete: .cascade)
                table.column("secretKey", .text).notNull()
                table.column("created", .datetime).notNull()
            }
        }
        return migrator
    }

    public func users() throws(StoreError) -> [StoreUser] {
        try access("read the users") { db in
            let keys = Dictionary(grouping: try Row.fetchAll(db, sql: "SELECT * FROM accessKey ORDER BY created, accessKey")) {
                $0["userId"] as String
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM user ORDER BY created, name").map { row in
                let id: String = row["id"]
                return StoreUser(id: id, name: row["name"], email: row["email"], isAdministrator: row["administrator"],
                                 keys: (keys[id] ?? []).map { AccessKeyPair(accessKey: $0["accessKey"], secretKey: $0["secretKey"]) },
                                 created: row["created"])
            }
        }
    }

    public func user(named name: String) throws(StoreError) -> StoreUser {
        guard let user = try users().first(where: { $0.name == name }) else {
            throw StoreError(.invalidConfiguration, "no user named \(name)")
        }
        return user
    }

    /// Adds a user with one key pair (a new one unless `key` is given).
    @discardableResult
    public func addUser(name: String, email: String? = nil, administrator: Bool = false, id: String? = nil,
                        key: AccessKeyPair? = nil) throws(StoreError) -> StoreUser {
        guard StoreUser.isValidName(name) else {
            throw StoreError(.invalidConfiguration, "'\(name)' is not a user name (1-64 of letters, digits and ._-@+=)")
        }
        let id = id ?? StoreUser.newID()
        guard StoreUser.isValidID(id) else { throw StoreError(.invalidConfiguration, "a canonical user ID is 64 lower-case hex digits") }
        let key = key ?? .generate()
        try Self.check(key)
        let user = StoreUser(id: id, name: name, email: email, isAdministrator: administrator, keys: [key])
        try access("add user \(name)") { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM user WHERE name = ? OR id = ?", arguments: [name, id]) == true {
                throw StoreError(.invalidConfiguration, "a user named \(name) or with ID \(id) exists")
            }
            if let email, try Bool.fetchOne(db, sql: "SELECT 1 FROM user WHERE email = ?", arguments: [email]) == true {
                throw StoreError(.invalidConfiguration, "another user has the e-mail address \(email)")
            }
            try db.execute(sql: "INSERT INTO user (id, name, email, administrator, created) VALUES (?, ?, ?, ?, ?)",
                           arguments: [id, name, email, administrator, user.created])
            try Self.insert(key, for: id, db)
        }
        return user
    }

    /// Removes a user and its keys; what it owns keeps its owner's ID.
    public func removeUser(named name: String) throws(StoreError) {
        try access("remove user \(name)") { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT id, administrator FROM user WHERE name = ?", arguments: [name]) else {
                throw StoreError(.invalidConfiguration, "no user named \(name)")
            }
            if row["administrator"] as Bool,
               try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM user WHERE administrator") == 1 {
                throw StoreError(.invalidConfiguration, "\(name) is the only administrator; add another first")
            }
            try db.execute(sql: "DELETE FROM user WHERE id = ?", arguments: [row["id"] as String])
        }
    }

    /// Gives a user another key pair (a new one unless `key` is given).
    @discardableResult
    public func addKey(user name: String, key: AccessKeyPair? = nil) throws(StoreError) -> AccessKeyPair {
        let key = key ?? .generate()
        try Self.check(key)
        try access("add a key for \(name)") { db in
            guard let id = try String.fetchOne(db, sql: "SELECT id FROM user WHERE name = ?", arguments: [name]) else {
                throw StoreError(.invalidConfiguration, "no user named \(name)")
            }
            try Self.insert(key, for: id, db)
        }
        return key
    }

    /// Withdraws one access key; a user keeps at least one.
    public func removeKey(user name: String, accessKey: String) throws(StoreError) {
        try access("remove a key of \(name)") { db in
            guard let id = try String.fetchOne(db, sql: "SELECT userId FROM accessKey JOIN user ON user.id = userId WHERE name = ? AND accessKey = ?",
                                               arguments: [name, accessKey]) else {
                throw StoreError(.invalidConfiguration, "\(name) has no access key \(accessKey)")
            }
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM accessKey WHERE userId = ?", arguments: [id]) == 1 {
                throw StoreError(.invalidConfiguration, "\(accessKey) is \(name)'s only key; add another first")
            }
            try db.execute(sql: "DELETE FROM accessKey WHERE accessKey = ?", arguments: [accessKey])
        }
    }

    /// On first start: an administrator named `name` with `key`, when there are no users.
    /// Returns the user made, or nil when users existed.
    public func bootstrap(name: String = "admin", key: AccessKeyPair) throws(StoreError) -> StoreUser? {
        try access("make the first user") { db -> StoreUser? in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM user") == 0 else { return nil }
            let user = StoreUser(id: StoreUser.newID(), name: name, isAdministrator: true, keys: [key])
            try db.execute(sql: "INSERT INTO user (id, name, email, administrator, created) VALUES (?, ?, NULL, 1, ?)",
                           arguments: [user.id, name, user.created])
            try Self.insert(key, for: user.id, db)
            return user
        }
    }

    static func check(_ key: AccessKeyPair) throws(StoreError) {
        guard AccessKeyPair.isValidAccessKey(key.accessKey) else {
            throw StoreError(.invalidConfiguration, "an access key is 3 to 128 letters and digits")
        }
        guard (8...128).contains(key.secretKey.utf8.count), key.secretKey.utf8.allSatisfy({ (33...126).contains($0) }) else {
            throw StoreError(.invalidConfiguration, "a secret key is 8 to 128 printable ASCII characters")
        }
    }

    static func insert(_ key: AccessKeyPair, for id: String, _ db: Database) throws {
        if try Bool.fetchOne(db, sql: "SELECT 1 FROM accessKey WHERE accessKey = ?", arguments: [key.accessKey]) == true {
            throw StoreError(.invalidConfiguration, "the access key \(key.accessKey) is taken")
        }
        try db.execute(sql: "INSERT INTO accessKey (accessKey, userId, secretKey, created) VALUES (?, ?, ?, ?)",
                       arguments: [key.accessKey, id, key.secretKey, Date()])
    }

    func access<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try database.write(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.internalError, "cannot \(what): \(error)")
        }
    }
}

/// Every user the S3 API knows, stored and configured, indexed for the checks of one
/// request. Pure: built from a snapshot, so that a request sees one consistent set.
public struct UserDirectory: Sendable {
    public let users: [StoreUser]
    let byAccessKey: [String: (user: Int, secret: String)]
    let byID: [String: Int]
    let byEmail: [String: Int]

    /// `stored` from `UserStore`, `configured` from the settings. A configured user with a
    /// stored user's name adds its keys to that user.
    public init(stored: [StoreUser], configured: [StoreUser] = []) {
        var users = stored
        for user in configured {
            if let index = users.firstIndex(where: { $0.name == user.name }) {
                users[index].keys += user.keys
            } else {
                users.append(user)
            }
        }
        self.users = users
        var byAccessKey: [String: (Int, String)] = [:], byID: [String: Int] = [:], byEmail: [String: Int] = [:]
        for (index, user) in users.enumerated() {
            for key in user.keys where byAccessKey[key.accessKey] == nil { byAccessKey[key.accessKey] = (index, key.secretKey) }
            if byID[user.id] == nil { byID[user.id] = index }
            if let email = user.email?.lowercased(), byEmail[email] == nil { byEmail[email] = index }
        }
        self.byAccessKey = byAccessKey
        self.byID = byID
        self.byEmail = byEmail
    }

    public func secret(forAccessKey key: String) -> String? { byAccessKey[key]?.secret }
    public func user(forAccessKey key: String) -> StoreUser? { byAccessKey[key].map { users[$0.user] } }
    public func user(id: String) -> StoreUser? { byID[resolvedID(id)].map { users[$0] } }
    public func user(email: String) -> StoreUser? { byEmail[email.lowercased()].map { users[$0] } }

    /// The first administrator: the owner of what the server itself made.
    public var administrator: StoreUser? { users.first { $0.isAdministrator } }

    /// The keys that may sign the control API.
    public var administratorKeys: [String: String] {
        var keys: [String: String] = [:]
        for user in users where user.isAdministrator {
            for key in user.keys { keys[key.accessKey] = key.secretKey }
        }
        return keys
    }

    func resolvedID(_ id: String) -> String { id.isEmpty ? administrator?.id ?? "" : id }

    /// `policy` with "" (the first administrator) replaced by that user's ID.
    public func resolved(_ policy: AccessPolicy) -> AccessPolicy {
        AccessPolicy(owner: resolvedID(policy.owner), grants: policy.grants.map { grant in
            if case .user(let id) = grant.grantee { return Grant(.user(resolvedID(id)), grant.permission) }
            return grant
        })
    }

    /// A user's display name, or the ID itself for one that was removed.
    public func displayName(_ id: String) -> String { user(id: id)?.name ?? id }
}

/// The user directory a running API checks requests against: `UserStore`'s users (which
/// `sluice user` changes under a running server) and the configured ones.
public final class UserDirectorySource: Sendable {
    let store: UserStore?
    let configured: [StoreUser]
    let state: Mutex<(directory: UserDirectory, loaded: ContinuousClock.Instant?)>
    static let lifetime: Duration = .seconds(1)

    public init(store: UserStore?, configured: [StoreUser]) {
        self.store = store
        self.configured = configured
        state = Mutex((UserDirectory(stored: [], configured: configured), store == nil ? .now : nil))
    }

    /// The directory when it is less than a second old.
    public func fresh() -> UserDirectory? {
        state.withLock { state in
            guard let loaded = state.loaded, store == nil || loaded.duration(to: .now) < Self.lifetime else { return nil }
            return state.directory
        }
    }

    /// Whether an unknown access key may send us to the table again: a user added a
    /// moment ago works at once, and a flood of made-up keys reads it at most 50 times a
    /// second.
    public func mayReload() -> Bool {
        guard store != nil else { return false }
        return state.withLock { state in state.loaded.map { $0.duration(to: .now) >= .milliseconds(20) } ?? true }
    }

    /// Blocks on SQLite: call it off the cooperative threads.
    public func reload() throws(StoreError) -> UserDirectory {
        let directory = UserDirectory(stored: try store?.users() ?? [], configured: configured)
        state.withLock { $0 = (directory, .now) }
        return directory
    }

    /// The directory, read again on `threadPool` when it is a second old.
    public func current(on threadPool: NIOThreadPool) async throws -> UserDirectory {
        if let fresh = fresh() { return fresh }
        return try await reloaded(on: threadPool)
    }

    /// The directory read again now, on `threadPool`.
    public func reloaded(on threadPool: NIOThreadPool) async throws -> UserDirectory {
        try await threadPool.runIfActive { try self.reload() }
    }
}

extension UserDirectorySource {
    /// One administrator with one key pair, kept in memory: an API for a test or an
    /// embedding program.
    public static func administrator(accessKey: String, secretKey: String, name: String = "admin") -> UserDirectorySource {
        UserDirectorySource(store: nil, configured: [StoreUser(id: StoreUser.stableID(name: name), name: name, isAdministrator: true,
                                                               keys: [AccessKeyPair(accessKey: accessKey, secretKey: secretKey)])])
    }
}
