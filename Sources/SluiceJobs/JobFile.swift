import Foundation
import SluiceYAML
import Yams
#if canImport(Glibc)
import Glibc
#endif

/// A job file (`jobs/*.yml`): one `input` or a list of `inputs` (globs allowed), and
/// what to do with them. Relative paths are relative to the job file.
public enum JobFile {
    static let known: Set<String> = ["input", "inputs", "preset", "bucket", "prefix", "asset", "acl", "priority", "metadata", "webhook", "keep-old"]

    public static func load(_ path: String) throws -> [JobSpec] {
        let text: String
        guard FileManager.default.fileExists(atPath: path) else { throw JobError("\(path) does not exist") }
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw JobError("\(path): cannot read: \(error.localizedDescription)")
        }
        let base = (URL(fileURLWithPath: path).standardizedFileURL.path as NSString).deletingLastPathComponent
        return try parse(text, relativeTo: base, name: path)
    }

    /// `expand` turns an input pattern into the files it names (the file system's globs;
    /// a test or fuzz target passes its own).
    public static func parse(_ text: String, relativeTo base: String, name: String = "job file",
                             expand: (String) -> [String] = JobFile.expand) throws -> [JobSpec] {
        let root: Node?
        do {
            root = try YAMLText.compose(text)
        } catch {
            throw JobError("\(name): not valid YAML: \(error)")
        }
        // Read from the node tree: Yams' untyped `load` traps on a key that is not a
        // scalar (`[a]: b`), and a job file is input like any other.
        guard let top = root?.mapping else { throw JobError("\(name): expected a mapping (input:, preset:, …)") }
        var mapping: [String: Node] = [:]
        for (key, value) in top {
            guard let key = key.scalar?.string else { throw JobError("\(name): keys must be words") }
            guard known.contains(key) else {
                throw JobError("\(name): unknown key '\(key)' (known: \(known.sorted().joined(separator: ", ")))")
            }
            mapping[key] = value
        }
        func value(_ key: String) throws -> String? {
            guard let node = mapping[key] else { return nil }
            guard let scalar = node.scalar else { throw JobError("\(name): '\(key)' must be a single value") }
            return scalar.string
        }
        var patterns: [String] = []
        if let single = try value("input") { patterns.append(single) }
        if let many = mapping["inputs"] {
            guard let list = many.sequence else { throw JobError("\(name): 'inputs' must be a list") }
            for item in list {
                guard let pattern = item.scalar?.string else { throw JobError("\(name): each of 'inputs' must be a path or pattern") }
                patterns.append(pattern)
            }
        }
        guard !patterns.isEmpty else { throw JobError("\(name): give 'input' or 'inputs'") }
        var inputs: [String] = []
        for pattern in patterns {
            let absolute = pattern.hasPrefix("/") ? pattern : base + "/" + pattern
            let matches = expand(absolute)
            guard !matches.isEmpty else { throw JobError("\(name): no file matches '\(pattern)'") }
            inputs += matches
        }
        var priority = 0
        if let value = try value("priority") {
            guard let number = Int(value) else { throw JobError("\(name): 'priority' must be a whole number") }
            priority = number
        }
        var metadata: [String: String] = [:]
        if let node = mapping["metadata"] {
            guard let object = node.mapping else { throw JobError("\(name): 'metadata' must be a mapping") }
            for (key, item) in object {
                guard let key = key.scalar?.string, let value = item.scalar?.string else {
                    throw JobError("\(name): 'metadata' must map words to single values")
                }
                metadata[key.lowercased()] = value
            }
        }
        let acl = try value("acl") ?? "public-read"
        guard acl == "private" || acl == "public-read" else { throw JobError("\(name): 'acl' must be private or public-read") }
        let asset = try value("asset")
        if asset != nil && inputs.count > 1 { throw JobError("\(name): 'asset' names one input; leave it out for many") }
        let preset = try value("preset") ?? "dynamic-streaming", bucket = try value("bucket") ?? "media"
        let prefix = try value("prefix") ?? "", webhook = try value("webhook")
        var keepOld = false
        switch try value("keep-old") {
        case nil, "false", "no": break
        case "true", "yes": keepOld = true
        case let other?: throw JobError("\(name): 'keep-old' must be true or false, not '\(other)'")
        }
        return inputs.map { input in
            JobSpec(input: input, preset: preset, bucket: bucket, prefix: prefix, asset: asset, acl: acl, priority: priority,
                    metadata: metadata, webhook: webhook, keepOld: keepOld)
        }
    }

    /// Shell-style wildcard expansion, sorted; a path without wildcards is itself if it exists.
    public static func expand(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }
}
