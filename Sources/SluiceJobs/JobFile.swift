import Foundation
import Yams
#if canImport(Glibc)
import Glibc
#endif

/// A job file (`jobs/*.yml`): one `input` or a list of `inputs` (globs allowed), and
/// what to do with them. Relative paths are relative to the job file.
public enum JobFile {
    static let known: Set<String> = ["input", "inputs", "preset", "bucket", "prefix", "asset", "acl", "priority", "metadata", "webhook"]

    public static func load(_ path: String) throws -> [JobSpec] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw JobError("\(path): cannot read: \(error.localizedDescription)")
        }
        let base = (URL(fileURLWithPath: path).standardizedFileURL.path as NSString).deletingLastPathComponent
        return try parse(text, relativeTo: base, name: path)
    }

    public static func parse(_ text: String, relativeTo base: String, name: String = "job file") throws -> [JobSpec] {
        let node: Any?
        do {
            node = try Yams.load(yaml: text)
        } catch {
            throw JobError("\(name): not valid YAML: \(error)")
        }
        guard let mapping = node as? [String: Any] else { throw JobError("\(name): expected a mapping (input:, preset:, …)") }
        if let unknown = mapping.keys.first(where: { !known.contains($0) }) {
            throw JobError("\(name): unknown key '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        var patterns: [String] = []
        if let single = mapping["input"] { patterns.append("\(single)") }
        if let many = mapping["inputs"] {
            guard let list = many as? [Any] else { throw JobError("\(name): 'inputs' must be a list") }
            patterns += list.map { "\($0)" }
        }
        guard !patterns.isEmpty else { throw JobError("\(name): give 'input' or 'inputs'") }
        var inputs: [String] = []
        for pattern in patterns {
            let absolute = pattern.hasPrefix("/") ? pattern : base + "/" + pattern
            let matches = expand(absolute)
            guard !matches.isEmpty else { throw JobError("\(name): no file matches '\(pattern)'") }
            inputs += matches
        }
        let priority: Int
        if let value = mapping["priority"] {
            guard let number = value as? Int else { throw JobError("\(name): 'priority' must be a whole number") }
            priority = number
        } else {
            priority = 0
        }
        var metadata: [String: String] = [:]
        if let value = mapping["metadata"] {
            guard let object = value as? [String: Any] else { throw JobError("\(name): 'metadata' must be a mapping") }
            for (key, item) in object { metadata[key.lowercased()] = "\(item)" }
        }
        let acl = (mapping["acl"] as? String) ?? "public-read"
        guard acl == "private" || acl == "public-read" else { throw JobError("\(name): 'acl' must be private or public-read") }
        if mapping["asset"] != nil && inputs.count > 1 { throw JobError("\(name): 'asset' names one input; leave it out for many") }
        return inputs.map { input in
            JobSpec(input: input, preset: (mapping["preset"] as? String) ?? "dynamic-streaming", bucket: (mapping["bucket"] as? String) ?? "media",
                    prefix: (mapping["prefix"].map { "\($0)" }) ?? "", asset: mapping["asset"].map { "\($0)" }, acl: acl, priority: priority,
                    metadata: metadata, webhook: mapping["webhook"] as? String)
        }
    }

    /// Shell-style wildcard expansion, sorted; a path without wildcards is itself if it exists.
    static func expand(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }
}
