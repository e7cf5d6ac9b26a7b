import ArgumentParser
import Foundation
import SluiceCommandLine
import SluiceStore

/// `sluice user`: the S3 API's users and their key pairs, in DATA/users.sqlite.
struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Manage the S3 API's users and their key pairs.",
        discussion: """
            Each user has a canonical ID (64 hex digits, as S3's), a display name, an
            optional e-mail address for grants by address, and one or more key pairs. A
            bucket or object belongs to the user who made it; its ACL decides who else
            may read or write it (`aws s3api put-bucket-acl --grant-read id=ID`).
            Administrators also sign the control API, and the first one owns what the
            server itself publishes (watch folder, jobs, `sluice bucket`).

            Changes reach a running server within a second. Users in sluice.yml
            (users.NAME: access-key, secret-key, email, id, administrator) are not
            listed here; they exist while the file names them.

              sluice user add publisher --email pub@example.com
              sluice user add edge
              sluice user ls
              sluice user keys edge --add
              sluice user keys edge --remove SLUICEOLDKEY0000000
              sluice user rm edge
            """,
        subcommands: [Add.self, List.self, Remove.self, Keys.self]
    )

    static func store(_ location: DataLocation) throws -> UserStore {
        try UserStore(dataFolder: try location.existing())
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user with a new key pair, and print the pair.")
        @Argument(help: "The display name: 1-64 of letters, digits and ._-@+=") var name: String
        @Option(name: .long, help: "An e-mail address, for grants by emailAddress=.") var email: String?
        @Option(name: .long, help: "A canonical ID to keep (64 lower-case hex digits); a new one otherwise.") var id: String?
        @Option(name: .long, help: "The access key to use instead of a new one (3-128 letters and digits).") var accessKey: String?
        @Option(name: .long, help: "The secret key to go with --access-key.") var secretKey: String?
        @Flag(name: .long, help: "May sign the control API.") var administrator = false
        @OptionGroup var location: DataLocation

        func validate() throws {
            guard (accessKey == nil) == (secretKey == nil) else { throw ValidationError("give --access-key and --secret-key together") }
        }

        func run() throws {
            let key = accessKey.map { AccessKeyPair(accessKey: $0, secretKey: secretKey ?? "") }
            let user = try UserCommand.store(location).addUser(name: name, email: email, administrator: administrator, id: id, key: key)
            print("added user \(user.name)\(user.isAdministrator ? " (administrator)" : "")")
            print("  canonical ID: \(user.id)")
            print("  access key:   \(user.keys[0].accessKey)")
            print("  secret key:   \(user.keys[0].secretKey)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the users, their IDs and access keys.")
        @Flag(name: .long, help: "One JSON object per user, secrets included (for scripts).") var json = false
        @OptionGroup var location: DataLocation

        func run() throws {
            for user in try UserCommand.store(location).users() {
                if json {
                    let object: [String: Any] = [
                        "name": user.name, "id": user.id, "email": user.email ?? NSNull(), "administrator": user.isAdministrator,
                        "keys": user.keys.map { ["access-key": $0.accessKey, "secret-key": $0.secretKey] },
                    ]
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    let role = user.isAdministrator ? "  administrator" : ""
                    let email = user.email.map { "  <\($0)>" } ?? ""
                    print("\(user.name)\(email)\(role)\n  id   \(user.id)")
                    for key in user.keys { print("  key  \(key.accessKey)") }
                }
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a user and its keys.",
                                                        discussion: "What the user owns keeps its owner's ID; `sluice bucket` still reaches it.")
        @Argument var name: String
        @OptionGroup var location: DataLocation

        func run() throws {
            try UserCommand.store(location).removeUser(named: name)
            print("removed user \(name)")
        }
    }

    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a user's key pairs, add one, or withdraw one.")
        @Argument var name: String
        @Flag(name: .long, help: "Make another key pair and print it.") var add = false
        @Option(name: .long, help: "Withdraw this access key (a user keeps at least one).") var remove: String?
        @OptionGroup var location: DataLocation

        func run() throws {
            let store = try UserCommand.store(location)
            if add {
                let key = try store.addKey(user: name)
                print("added a key pair for \(name)\n  access key: \(key.accessKey)\n  secret key: \(key.secretKey)")
            } else if let remove {
                try store.removeKey(user: name, accessKey: remove)
                print("withdrew \(remove) from \(name)")
            } else {
                for key in try store.user(named: name).keys { print("\(key.accessKey)  \(key.secretKey)") }
            }
        }
    }
}
