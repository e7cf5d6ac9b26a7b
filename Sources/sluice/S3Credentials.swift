import Foundation
import SluiceCommandLine
import Logging
import SluiceStore
import SluiceYAML

/// The users the S3 and control APIs check signatures against: those `sluice user`
/// keeps in `DATA/users.sqlite`, and those the settings name.
///
/// On first start, with no users stored and no `s3.access-key`, an administrator named
/// admin is made with one key pair, printed once and also kept in
/// `DATA/s3-credentials.yml` (mode 0600), as object stores such as MinIO do. A pair
/// already in that file (from a version before users) becomes admin's.
enum S3Credentials {
    static let fileName = "s3-credentials.yml"

    static func directory(dataFolder: String, settings: Settings, logger: Logger) throws -> UserDirectorySource {
        let store = try UserStore(dataFolder: dataFolder)
        let configured = try configuredUsers(settings)
        if !configured.contains(where: \.isAdministrator), try store.users().isEmpty {
            let key = try firstKeyPair(dataFolder: dataFolder, logger: logger)
            if let made = try store.bootstrap(key: key) {
                logger.notice("made the administrator \(made.name) (canonical ID \(made.id)); `sluice user` adds more users and keys")
            }
        }
        return UserDirectorySource(store: store, configured: configured)
    }

    /// `s3.access-key`/`s3.secret-key` (admin's keys) and every `users.NAME` mapping:
    ///
    ///     users:
    ///       edge: { access-key: EDGEKEY0123456789, secret-key: "…", email: edge@example.com }
    static func configuredUsers(_ settings: Settings) throws -> [StoreUser] {
        var users: [StoreUser] = []
        let access = settings.string("s3.access-key"), secret = settings.string("s3.secret-key")
        if !access.isEmpty || !secret.isEmpty {
            guard !access.isEmpty, !secret.isEmpty else {
                throw Settings.Problem(description: "set both s3.access-key and s3.secret-key, or neither")
            }
            users.append(StoreUser(id: StoreUser.stableID(name: "admin"), name: "admin", isAdministrator: true,
                                   keys: [AccessKeyPair(accessKey: access, secretKey: secret)]))
        }
        for (name, fields) in settings.userEntries() {
            guard let access = fields["access-key"], let secret = fields["secret-key"] else {
                throw Settings.Problem(description: "users.\(name) needs access-key and secret-key")
            }
            let id = fields["id"] ?? StoreUser.stableID(name: name)
            guard StoreUser.isValidID(id) else { throw Settings.Problem(description: "users.\(name).id must be 64 lower-case hex digits") }
            let administrator = ["true", "yes", "1"].contains(fields["administrator"]?.lowercased() ?? "")
            users.append(StoreUser(id: id, name: name, email: fields["email"], isAdministrator: administrator,
                                   keys: [AccessKeyPair(accessKey: access, secretKey: secret)]))
        }
        return users
    }

    /// The pair in `s3-credentials.yml`, or a new one written there and printed.
    static func firstKeyPair(dataFolder: String, logger: Logger) throws -> AccessKeyPair {
        let path = dataFolder + "/" + fileName
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            guard let mapping = (try? YAMLText.load(text)) as? [String: Any],
                  let access = mapping["access-key"] as? String, let secret = mapping["secret-key"] as? String
            else { throw Settings.Problem(description: "\(path): expected access-key and secret-key") }
            return AccessKeyPair(accessKey: access, secretKey: secret)
        }
        let key = AccessKeyPair.generate()
        let text = """
            # The first key pair of the administrator (user admin), made by sluice serve on
            # first start. `sluice user keys admin` lists admin's keys; s3.access-key and
            # s3.secret-key in sluice.yml (or SLUICE_S3_*) add one.
            access-key: \(key.accessKey)
            secret-key: \(key.secretKey)

            """
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw Settings.Problem(description: "cannot write \(path)")
        }
        logger.notice("created the S3 API key pair (kept in \(path)):")
        logger.notice("  access key: \(key.accessKey)")
        logger.notice("  secret key: \(key.secretKey)")
        return key
    }
}
