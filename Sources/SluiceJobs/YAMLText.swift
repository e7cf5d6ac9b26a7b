import Yams

/// YAML from a file people write (sluice.yml, the key file), as plain values.
///
/// Yams' own `load` traps on a mapping key that is not a scalar (`[a]: b`), which ends the
/// command with a crash instead of an error: this walks the node tree itself, refuses
/// such keys and nesting past `maximumDepth`, and leaves scalars to Yams' resolution.
public enum YAMLText {
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    public static let maximumDepth = 32

    /// The document's value (a dictionary with string keys, an array, or a scalar's
    /// Int, Double, Bool or String); nil for an empty document.
    public static func load(_ text: String) throws -> Any? {
        guard let node = try Yams.compose(yaml: text) else { return nil }
        return try value(of: node, depth: 0)
    }

    static func value(of node: Node, depth: Int) throws -> Any {
        guard depth < maximumDepth else { throw Problem(description: "nested more than \(maximumDepth) levels deep") }
        switch node {
        case .scalar:
            return Constructor.default.any(from: node)
        case .sequence(let sequence):
            return try sequence.map { try value(of: $0, depth: depth + 1) }
        case .mapping(let mapping):
            var result: [String: Any] = [:]
            for (key, item) in mapping {
                guard let name = key.scalar?.string else {
                    throw Problem(description: "line \((key.mark?.line).map(String.init) ?? "?"): keys must be words, not lists or mappings")
                }
                result[name] = try value(of: item, depth: depth + 1)
            }
            return result
        @unknown default:
            throw Problem(description: "unsupported YAML node")
        }
    }
}
