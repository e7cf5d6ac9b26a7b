import Foundation
import SluiceYAML

/// Layered settings: flags override `SLUICE_*` environment variables, which override
/// `DATA/sluice.yml`, which overrides the defaults.
///
/// Every setting has one dotted name (`rtmp.port`); the environment variable is that
/// name upper-cased with dots and hyphens as underscores (`SLUICE_RTMP_PORT`), and the
/// file nests it (`rtmp:` / `  port: 1935`).
public struct Settings: Sendable {
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public private(set) var values: [String: (value: String, source: String)] = [:]

    /// No settings: every value is its default.
    public init() {}

    public static func environmentName(_ key: String) -> String {
        "SLUICE_" + key.uppercased().replacingOccurrences(of: ".", with: "_").replacingOccurrences(of: "-", with: "_")
    }

    /// Reads the layers below the flags.
    public static func load(dataFolder: String, known: [String] = Settings.knownKeys, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Settings {
        var settings = Settings()
        let file = dataFolder + "/sluice.yml"
        if FileManager.default.fileExists(atPath: file) {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw Problem(description: "\(file): cannot read: \(error.localizedDescription)")
            }
            let node: Any?
            do {
                node = try YAMLText.load(text)
            } catch {
                throw Problem(description: "\(file): not valid YAML: \(error)")
            }
            if let node {
                guard let mapping = node as? [String: Any] else {
                    throw Problem(description: "\(file): expected a mapping of settings at the top level")
                }
                for (key, value) in flatten(mapping) {
                    guard known.contains(key) || isUserSetting(key) else {
                        throw Problem(description: "\(file): unknown setting '\(key)' (known: \(known.sorted().joined(separator: ", ")))")
                    }
                    settings.values[key] = (value, file)
                }
            }
        }
        for key in known {
            let name = environmentName(key)
            if let value = environment[name], !value.isEmpty {
                settings.values[key] = (value, "environment variable \(name)")
            }
        }
        return settings
    }

    /// What a `users.NAME` mapping in the file may hold: one S3 API user.
    public static let userFields = ["access-key", "secret-key", "email", "id", "administrator"]

    static func isUserSetting(_ key: String) -> Bool {
        let parts = key.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0] == "users" && !parts[1].isEmpty && userFields.contains(String(parts[2]))
    }

    /// The file's `users.NAME` mappings, by name, each field as written.
    public func userEntries() -> [(name: String, fields: [String: String])] {
        var entries: [String: [String: String]] = [:]
        for (key, value) in values where Self.isUserSetting(key) {
            let parts = key.split(separator: ".")
            entries[String(parts[1]), default: [:]][String(parts[2])] = value.value
        }
        return entries.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    static func flatten(_ mapping: [String: Any], prefix: String = "") -> [(String, String)] {
        var result: [(String, String)] = []
        for (key, value) in mapping {
            let name = prefix.isEmpty ? key : prefix + "." + key
            if let nested = value as? [String: Any] {
                result.append(contentsOf: flatten(nested, prefix: name))
            } else {
                result.append((name, "\(value)"))
            }
        }
        return result
    }

    public mutating func override(_ key: String, _ value: CustomStringConvertible?, flag: String) {
        if let value { values[key] = (value.description, "flag \(flag)") }
    }

    /// The value and where it came from, for `--print-settings`.
    public func describe(_ key: String, default fallback: String) -> (String, String) {
        if let entry = values[key] { return (entry.value, entry.source) }
        return (fallback, "default")
    }

    public func string(_ key: String, default fallback: String) -> String {
        values[key]?.value ?? fallback
    }

    public func optionalInt(_ key: String) throws(Problem) -> Int? {
        guard let entry = values[key] else { return nil }
        guard let value = Int(entry.value) else {
            throw Problem(description: "\(entry.source): '\(key)' must be a whole number, not '\(entry.value)'")
        }
        return value
    }

    public func int(_ key: String, default fallback: Int, range: ClosedRange<Int>) throws(Problem) -> Int {
        let value = try optionalInt(key) ?? fallback
        guard range.contains(value) else {
            throw Problem(description: "\(values[key]?.source ?? "default"): '\(key)' must be in \(range.lowerBound)...\(range.upperBound), not \(value)")
        }
        return value
    }

    public func seconds(_ key: String, default fallback: Double) throws(Problem) -> Double {
        guard let entry = values[key] else { return fallback }
        // At most a year: the value becomes a whole number of milliseconds later on.
        guard let value = Double(entry.value), value > 0, value <= 31_536_000 else {
            throw Problem(description: "\(entry.source): '\(key)' must be a number of seconds from 0 to 31536000, not '\(entry.value)'")
        }
        return value
    }

    /// Every setting a data folder's `sluice.yml` may hold, with its default: one table
    /// for every command (`sluice bucket` or `sluice encode --data` read the same file as
    /// `serve`), for `--print-settings`, and for the values the code falls back to.
    public static let table: [Definition] = [
        .init("rtmp.host", "0.0.0.0"), .init("rtmp.port", "1935"),
        .init("http.port", nil, shown: "80, or 8080 when 80 cannot be bound"),
        .init("rtmp.max-connections", "2000"), .init("rtmp.chunk-size", "4096"), .init("rtmp.idle-timeout", "120"),
        .init("shutdown-grace", "5"), .init("default-bucket", "media"), .init("log-level", "info"), .init("log-format", "text"),
        .init("public-url", nil, shown: "rtmp://HOSTNAME:RTMP-PORT/cfx/st"),
        .init("s3.host", nil, shown: "the RTMP host"), .init("s3.port", "9000"), .init("s3.region", "us-east-1"),
        .init("s3.domain", "localhost"),
        .init("s3.access-key", "", shown: "generated on first start"), .init("s3.secret-key", "", shown: "generated on first start"),
        .init("watch.folder", "", shown: "none"), .init("watch.preset", "dynamic-streaming"), .init("watch.prefix", ""),
        .init("watch.stable-seconds", "2"), .init("jobs.concurrency", "1"),
        .init("presets-dir", "", shown: "presets/ beside the executable or in the working folder"),
        .init("rtmp.max-handshakes", "200"), .init("rtmp.handshake-timeout", "10"), .init("rtmp.max-message-size", "1048576"),
        .init("http.max-connections", "2000"), .init("http.max-connections-per-ip", "128"), .init("http.head-timeout", "10"),
        .init("http.max-header-bytes", "16384"), .init("http.max-uri-bytes", "8192"),
        .init("rtmp.bandwidth-check-on-connect", "false"),
        .init("control.port", "8090"), .init("control.host", nil, shown: "the RTMP host"),
        .init("distributions.default", "on"), .init("distributions.domain", "sluice.localhost"), .init("distributions.log-period", "3600"),
        .init("store.backend", "local"), .init("store.endpoint", "", shown: "none"), .init("store.region", "us-east-1"),
        .init("store.bucket", "", shown: "none"), .init("store.prefix", ""), .init("store.access-key", "", shown: "none"),
        .init("store.secret-key", "", shown: "none"), .init("store.cache-size-mb", "10240"),
    ]

    public struct Definition: Sendable {
        public let key: String
        /// The default as a setting's text; nil when it is worked out at start.
        public let value: String?
        /// How `--print-settings` shows the default.
        public let shown: String

        init(_ key: String, _ value: String?, shown: String? = nil) {
            self.key = key
            self.value = value
            self.shown = shown ?? value ?? ""
        }
    }

    public static let knownKeys = table.map(\.key)
    private static let defaults = Dictionary(uniqueKeysWithValues: table.map { ($0.key, $0) })

    /// The table's default of a setting that has one (a missing entry is a mistake in
    /// this file, caught by its test).
    static func defaultValue(_ key: String) -> String {
        guard let value = defaults[key]?.value else { preconditionFailure("setting \(key) has no default in Settings.table") }
        return value
    }

    /// The value and where it came from, for `--print-settings`.
    public func describe(_ key: String) -> (String, String) {
        describe(key, default: Self.defaults[key]?.shown ?? "")
    }

    public func string(_ key: String) -> String {
        string(key, default: Self.defaultValue(key))
    }

    public func int(_ key: String, range: ClosedRange<Int>) throws(Problem) -> Int {
        try int(key, default: Int(Self.defaultValue(key)) ?? 0, range: range)
    }

    public func seconds(_ key: String) throws(Problem) -> Double {
        try seconds(key, default: Double(Self.defaultValue(key)) ?? 0)
    }
}
