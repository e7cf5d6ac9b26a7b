import Foundation
import SluiceYAML

/// Layered settings: flags override `SLUICE_*` environment variables, which override
/// `DATA/sluice.yml`, which overrides the defaults.
///
/// Every setting has one dotted name (`rtmp.port`); the environment variable is that
/// name upper-cased with dots and hyphens as underscores (`SLUICE_RTMP_PORT`), and the
/// file nests it (`rtmp:` / `  port: 1935`).
struct Settings {
    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    private(set) var values: [String: (value: String, source: String)] = [:]

    static func environmentName(_ key: String) -> String {
        "SLUICE_" + key.uppercased().replacingOccurrences(of: ".", with: "_").replacingOccurrences(of: "-", with: "_")
    }

    /// Reads the layers below the flags.
    static func load(dataFolder: String, known: [String], environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Settings {
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

    mutating func override(_ key: String, _ value: CustomStringConvertible?, flag: String) {
        if let value { values[key] = (value.description, "flag \(flag)") }
    }

    /// The value and where it came from, for `--print-settings`.
    func describe(_ key: String, default fallback: String) -> (String, String) {
        if let entry = values[key] { return (entry.value, entry.source) }
        return (fallback, "default")
    }

    func string(_ key: String, default fallback: String) -> String {
        values[key]?.value ?? fallback
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard let entry = values[key] else { return nil }
        guard let value = Int(entry.value) else {
            throw Problem(description: "\(entry.source): '\(key)' must be a whole number, not '\(entry.value)'")
        }
        return value
    }

    func int(_ key: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
        let value = try optionalInt(key) ?? fallback
        guard range.contains(value) else {
            throw Problem(description: "\(values[key]?.source ?? "default"): '\(key)' must be in \(range.lowerBound)...\(range.upperBound), not \(value)")
        }
        return value
    }

    func seconds(_ key: String, default fallback: Double) throws -> Double {
        guard let entry = values[key] else { return fallback }
        // At most a year: the value becomes a whole number of milliseconds later on.
        guard let value = Double(entry.value), value > 0, value <= 31_536_000 else {
            throw Problem(description: "\(entry.source): '\(key)' must be a number of seconds from 0 to 31536000, not '\(entry.value)'")
        }
        return value
    }
}
