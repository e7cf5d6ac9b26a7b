import Foundation
import SluiceXML

/// A config document as a client sent it, kept whole: a 2020-05-31 `DistributionConfig`
/// has dozens of settings (cache behaviors, certificates, restrictions) that Sluice stores
/// and returns but does not act on. Stored as JSON with the distribution; written back as
/// XML through XMLCoder (`ConfigTreeElement`).
///
/// Built from a parsed `XMLTree`, so it nests at most `XMLTree.maximumDepth` deep: the
/// recursion here is bounded by that.
public struct ConfigTree: Codable, Equatable, Sendable {
    public var name: String
    /// The text of an element without children (white space around it dropped).
    public var text: String
    public var children: [ConfigTree]

    public init(name: String, text: String = "", children: [ConfigTree] = []) {
        self.name = name
        self.text = text
        self.children = children
    }

    /// The document under `tree`. Config documents have no mixed content: an element
    /// with both child elements and text is refused, because it could not be written back
    /// as it was read.
    static func read(_ tree: XMLTree) throws(ControlError) -> ConfigTree {
        var children: [ConfigTree] = []
        for child in tree.children { children.append(try read(child)) }
        let text = tree.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard children.isEmpty || text.isEmpty else {
            throw .malformed("\(tree.name.prefix(60)) holds both text and elements")
        }
        return ConfigTree(name: tree.name, text: text, children: children)
    }

    public func child(_ name: String) -> ConfigTree? { children.first { $0.name == name } }

    /// Replaces the child called `element.name`, or inserts it where `order` (the
    /// members in the model's order) puts it.
    mutating func set(_ element: ConfigTree, order: [String]) {
        if let index = children.firstIndex(where: { $0.name == element.name }) {
            children[index] = element
            return
        }
        let rank = order.firstIndex(of: element.name) ?? order.count
        let index = children.firstIndex { (order.firstIndex(of: $0.name) ?? order.count) > rank } ?? children.count
        children.insert(element, at: index)
    }

    static func leaf(_ name: String, _ text: String) -> ConfigTree { ConfigTree(name: name, text: text) }
    static func leaf(_ name: String, _ value: Bool) -> ConfigTree { ConfigTree(name: name, text: value ? "true" : "false") }
    static func leaf(_ name: String, _ value: Int) -> ConfigTree { ConfigTree(name: name, text: String(value)) }

    /// `<NAME><Quantity>N</Quantity><Items><ITEM>…</ITEM>…</Items></NAME>`; no Items when N is 0.
    static func list(_ name: String, _ items: [ConfigTree]) -> ConfigTree {
        ConfigTree(name: name, children: [leaf("Quantity", items.count)] + (items.isEmpty ? [] : [ConfigTree(name: "Items", children: items)]))
    }
}

/// A `ConfigTree`'s children written as elements by XMLCoder (the element's own name is
/// the key its parent encodes it under). The children of one name are written as one
/// array, which XMLCoder writes as repeated elements, where the first of them was: a keyed
/// container takes each key once.
struct ConfigTreeElement: Encodable {
    let tree: ConfigTree

    struct ElementName: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        guard !tree.children.isEmpty else {
            var container = encoder.singleValueContainer()
            try container.encode(tree.text)
            return
        }
        var container = encoder.container(keyedBy: ElementName.self)
        var names: [String] = []
        var byName: [String: [ConfigTreeElement]] = [:]
        for child in tree.children {
            if byName[child.name] == nil { names.append(child.name) }
            byName[child.name, default: []].append(ConfigTreeElement(tree: child))
        }
        for name in names {
            let elements = byName[name] ?? []
            if elements.count == 1 {
                try container.encode(elements[0], forKey: ElementName(name))
            } else {
                try container.encode(elements, forKey: ElementName(name))
            }
        }
    }
}
