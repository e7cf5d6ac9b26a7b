import Yams

/// A preset that could not be read: the file, the line, and why.
public struct PresetError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String
    public var line: Int?
    public var reason: String

    public var description: String {
        if let line { return "\(file):\(line): \(reason)" }
        return "\(file): \(reason)"
    }
}

/// Typed, line-aware access to a YAML mapping, so every mistake in a preset is reported
/// with the line it is on and the keys that are allowed.
struct YAMLMapping {
    let node: Yams.Node
    let file: String
    let context: String
    private let pairs: [(key: String, value: Yams.Node)]

    init(_ node: Yams.Node, file: String, context: String) throws(PresetError) {
        guard let mapping = node.mapping else {
            throw PresetError(file: file, line: node.mark?.line, reason: "\(context) must be a mapping of keys to values")
        }
        var pairs: [(String, Yams.Node)] = []
        for (key, value) in mapping {
            guard let name = key.string else {
                throw PresetError(file: file, line: key.mark?.line, reason: "\(context): keys must be words")
            }
            pairs.append((name, value))
        }
        self.node = node
        self.file = file
        self.context = context
        self.pairs = pairs
    }

    func error(_ reason: String, at node: Yams.Node? = nil) -> PresetError {
        PresetError(file: file, line: (node ?? self.node).mark?.line, reason: reason)
    }

    /// Refuses keys other than `allowed`: a misspelt rule must not be silently ignored.
    func onlyKeys(_ allowed: [String]) throws(PresetError) {
        for (key, value) in pairs where !allowed.contains(key) {
            throw error("\(context): unknown key '\(key)' (allowed: \(allowed.joined(separator: ", ")))", at: value)
        }
    }

    func value(_ key: String) -> Yams.Node? { pairs.first { $0.key == key }?.value }

    func string(_ key: String) throws(PresetError) -> String? {
        guard let node = value(key) else { return nil }
        guard node.scalar != nil, let text = node.string else { throw error("\(context).\(key) must be text", at: node) }
        return text
    }

    func requiredString(_ key: String) throws(PresetError) -> String {
        guard let text = try string(key) else { throw error("\(context) needs '\(key)'") }
        return text
    }

    func number(_ key: String, in range: ClosedRange<Double>) throws(PresetError) -> Double? {
        guard let node = value(key) else { return nil }
        guard let scalar = node.scalar, let number = Double(scalar.string) else {
            throw error("\(context).\(key) must be a number, not '\(node.string ?? "a list or mapping")'", at: node)
        }
        guard range.contains(number) else {
            throw error("\(context).\(key) must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound)), not \(Self.format(number))", at: node)
        }
        return number
    }

    func mapping(_ key: String) throws(PresetError) -> YAMLMapping? {
        guard let node = value(key) else { return nil }
        return try YAMLMapping(node, file: file, context: "\(context).\(key)")
    }

    func sequence(_ key: String) throws(PresetError) -> [Yams.Node]? {
        guard let node = value(key) else { return nil }
        guard let sequence = node.sequence else { throw error("\(context).\(key) must be a list", at: node) }
        return Array(sequence)
    }

    /// A whole number without ".0"; `Int(exactly:)`, since the number may be any a file
    /// holds (1e20 does not fit an Int, and converting it would trap).
    static func format(_ number: Double) -> String {
        Int(exactly: number).map(String.init) ?? String(number)
    }
}
