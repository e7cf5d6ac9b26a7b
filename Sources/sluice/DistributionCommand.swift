import ArgumentParser
import Foundation
import SluiceCommandLine
import SluiceControl

struct DistributionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distribution",
        abstract: "Create and manage distributions: host names that route players to a bucket.",
        discussion: """
            A streaming distribution gives a bucket a host name of its own (sNNNNNNNNNNNNN
            plus distributions.domain, and any CNAMEs); an RTMP connect whose tcUrl names
            it streams that bucket's public-read objects. A basic distribution is the HTTP
            kind: connecting to one over RTMP is refused with DistributionTypeMismatch.
            Changes reach a running sluice serve within a second (Status goes from
            InProgress to Deployed); these are the objects the control API sees.

              sluice distribution create --origin media --cname video.example.com
              sluice distribution ls
              rtmpdump -r rtmp://127.0.0.1:1935/cfx/st -t rtmp://DOMAIN/cfx/st -y sample.flv -o out.flv
              sluice distribution disable ID && sluice distribution rm ID
            """,
        subcommands: [Create.self, List.self, Show.self, Update.self, Disable.self, Enable.self, Remove.self]
    )

    static func store(_ location: DataLocation) throws -> DistributionStore {
        try DistributionStore.open(folder: try location.existing(), settings: try location.settings(), store: try location.store())
    }

    static func describe(_ distribution: Distribution) -> String {
        let config = distribution.config
        var lines = [
            "\(distribution.id)  \(distribution.kind.rawValue)  \(distribution.status.rawValue)  \(config.enabled ? "enabled" : "disabled")",
            "domain: \(distribution.domainName)",
            "origin: \(config.origin) (bucket \(distribution.bucket))",
            "etag: \(distribution.etag)",
            "caller reference: \(config.callerReference)",
        ]
        if !config.aliases.isEmpty { lines.append("cnames: \(config.aliases.joined(separator: ", "))") }
        if !config.comment.isEmpty { lines.append("comment: \(config.comment)") }
        if let logging = config.logging, logging.enabled { lines.append("logging: \(logging.bucket)/\(logging.prefix)") }
        if distribution.kind == .streaming { lines.append("play: rtmp://\(distribution.domainName)/cfx/st/KEY") }
        return lines.joined(separator: "\n")
    }

    /// `BUCKET[/PREFIX]` as a logging target.
    static func logging(_ text: String) -> DistributionConfig.Logging {
        let slash = text.firstIndex(of: "/")
        return DistributionConfig.Logging(enabled: true, bucket: String(text[..<(slash ?? text.endIndex)]),
                                          prefix: slash.map { String(text[text.index(after: $0)...]) } ?? "")
    }

    /// A change made for a person: the current ETag is the one to match.
    static func change(_ location: DataLocation, _ id: String, _ edit: (inout DistributionConfig) -> Void) throws {
        let store = try store(location)
        guard let current = try store.find(id) else { throw CommandFailure("no distribution \(id)") }
        var config = current.config
        edit(&config)
        let updated = try store.update(current.kind, id, config, ifMatch: current.etag)
        print(describe(updated))
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a distribution for a bucket.")
        @Option(name: .long, help: "The origin: a bucket (media, or media.s3.amazonaws.com).") var origin: String
        /// `--streaming` (RTMP from cfx/st, the default) or `--basic` (HTTP).
        enum Kind: String, EnumerableFlag {
            case streaming
            case basic

            static func help(for value: Kind) -> ArgumentHelp? {
                value == .streaming ? "A streaming (RTMP) distribution (the default)." : "A basic (HTTP) distribution."
            }
        }

        @Flag var kind: Kind = .streaming
        @Option(name: .long, help: "Another host name for it (repeatable).") var cname: [String] = []
        @Option(name: .long, help: "A note.") var comment = ""
        @Option(name: .long, help: "Makes create idempotent: the same reference and settings give the same distribution back.")
        var callerReference: String?
        @Flag(name: .long, help: "Create it disabled.") var disabled = false
        @Option(name: .long, help: "Write access logs into BUCKET[/PREFIX] (streaming distributions).") var logging: String?
        @Option(name: .long, help: "What / serves (basic distributions), e.g. index.html.") var defaultRootObject: String?
        @OptionGroup var location: DataLocation

        func run() throws {
            let config = DistributionConfig(callerReference: callerReference ?? "sluice-\(UUID().uuidString)", origin: origin, aliases: cname,
                                            comment: comment, enabled: !disabled, logging: logging.map(DistributionCommand.logging),
                                            defaultRootObject: defaultRootObject)
            let (distribution, created) = try DistributionCommand.store(location).create(kind == .basic ? .basic : .streaming, config)
            print((created ? "" : "exists already (same caller reference and settings)\n") + DistributionCommand.describe(distribution))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List distributions.")
        @OptionGroup var location: DataLocation

        func run() throws {
            let all = try DistributionCommand.store(location).all()
            if all.isEmpty { print("no distributions (hosts stream the default bucket; see sluice distribution create --help)") }
            for distribution in all {
                let state = distribution.config.enabled ? "enabled" : "disabled"
                print("\(distribution.id)  \(distribution.kind.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) "
                      + "\(state.padding(toLength: 8, withPad: " ", startingAt: 0)) \(distribution.status.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) "
                      + "\(distribution.domainName) → \(distribution.bucket)")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one distribution.")
        @Argument var id: String
        @OptionGroup var location: DataLocation

        func run() throws {
            guard let distribution = try DistributionCommand.store(location).find(id) else { throw CommandFailure("no distribution \(id)") }
            print(DistributionCommand.describe(distribution))
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a distribution's origin, CNAMEs or comment.")
        @Argument var id: String
        @Option(name: .long, help: "A new origin bucket.") var origin: String?
        @Option(name: .long, help: "The host names, replacing the old ones (repeatable).") var cname: [String] = []
        @Flag(name: .long, help: "Remove every CNAME.") var noCnames = false
        @Option(name: .long, help: "A new note.") var comment: String?
        @Option(name: .long, help: "Write access logs into BUCKET[/PREFIX].") var logging: String?
        @Flag(name: .long, help: "Stop writing access logs.") var noLogging = false
        @OptionGroup var location: DataLocation

        func run() throws {
            try DistributionCommand.change(location, id) { config in
                if let origin { config.origin = origin }
                if let logging { config.logging = DistributionCommand.logging(logging) }
                if noLogging { config.logging = nil }
                if !cname.isEmpty || noCnames { config.aliases = cname }
                if let comment { config.comment = comment }
            }
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop serving new connections (plays under way finish); needed before rm.")
        @Argument var id: String
        @OptionGroup var location: DataLocation
        func run() throws { try DistributionCommand.change(location, id) { $0.enabled = false } }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve a disabled distribution again.")
        @Argument var id: String
        @OptionGroup var location: DataLocation
        func run() throws { try DistributionCommand.change(location, id) { $0.enabled = true } }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a disabled distribution.")
        @Argument var id: String
        @OptionGroup var location: DataLocation

        func run() throws {
            let store = try DistributionCommand.store(location)
            guard let current = try store.find(id) else { throw CommandFailure("no distribution \(id)") }
            try store.delete(current.kind, id, ifMatch: current.etag)
            print("removed \(id) (\(current.domainName))")
        }
    }
}
