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
                    guard known.contains(key) else {
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

    /// Every setting a data folder's `sluice.yml` may hold. One list for every command:
    /// `sluice bucket` or `sluice encode --data` read the same file as `serve`.
    public static let knownKeys = [
        "rtmp.host", "rtmp.port", "http.port", "rtmp.max-connections", "rtmp.chunk-size",
        "rtmp.idle-timeout", "shutdown-grace", "default-bucket", "log-level", "log-format", "public-url",
        "s3.host", "s3.port", "s3.region", "s3.domain", "s3.access-key", "s3.secret-key",
        "watch.folder", "watch.preset", "watch.prefix", "watch.stable-seconds", "jobs.concurrency", "presets-dir",
        "rtmp.max-handshakes", "rtmp.handshake-timeout", "rtmp.max-message-size", "http.max-connections",
        "http.max-connections-per-ip", "http.head-timeout", "http.max-header-bytes", "http.max-uri-bytes",
        "rtmp.bandwidth-check-on-connect", "distributions.default", "distributions.domain", "distributions.log-period",
        "store.backend", "store.endpoint", "store.region", "store.bucket", "store.prefix",
        "store.access-key", "store.secret-key", "store.cache-size-mb",
    ]
}
