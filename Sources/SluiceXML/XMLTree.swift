import CLibXML2
import Foundation

/// A parsed request document (S3's CompleteMultipartUpload, Delete, AccessControlPolicy;
/// the control API's configs): just enough of a tree to pick values out, namespaces
/// ignored.
public final class XMLTree {
    public let name: String
    public internal(set) var children: [XMLTree] = []
    public internal(set) var text = ""
    /// Attributes by local name (`xsi:type` is `type`), values as written.
    public internal(set) var attributes: [String: String] = [:]

    init(name: String) { self.name = name }

    public func child(_ name: String) -> XMLTree? { children.first { $0.name == name } }
    public func all(_ name: String) -> [XMLTree] { children.filter { $0.name == name } }
    public func value(_ name: String) -> String? { child(name)?.text.trimmingCharacters(in: .whitespacesAndNewlines) }
    /// The text as sent, where whitespace is part of the value (an object key " ").
    public func exactValue(_ name: String) -> String? { child(name)?.text }

    /// Every descendant named `name`, depth first (iteratively: no recursion on input).
    public func descendants(_ name: String) -> [XMLTree] {
        var found: [XMLTree] = []
        var pending = Array(children.reversed())
        while let element = pending.popLast() {
            if element.name == name { found.append(element) }
            pending.append(contentsOf: element.children.reversed())
        }
        return found
    }

    /// How deep a request document may nest; S3's deepest (AccessControlPolicy) is 5,
    /// CloudFront's DistributionConfig about 9.
    public static let maximumDepth = 16

    /// Parses a document with libxml2; nil when it is not well-formed XML or nests deeper
    /// than `maximumDepth`.
    ///
    /// Not Foundation's XMLParser: on Linux it traps on some invalid names, and it leaks
    /// an error object for every error libxml2 reports, so malformed 1 MB bodies leaked
    /// megabytes each (found by fuzzing). Here libxml2 keeps its errors in its own parser
    /// context, freed with it, and reports none.
    public static func parse(_ data: Data) -> XMLTree? {
        guard isAcceptable(data), let length = Int32(exactly: data.count) else { return nil }
        // libxml2's error handlers are per thread: a handler another library left on this
        // thread must not see our errors.
        xmlSetStructuredErrorFunc(nil, { _, _ in })
        let options = Int32(bitPattern: XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue
                                | XML_PARSE_NOCDATA.rawValue)
        let document = data.withUnsafeBytes { bytes in
            xmlReadMemory(bytes.baseAddress?.assumingMemoryBound(to: CChar.self), length, nil, "UTF-8", options)
        }
        guard let document else { return nil }
        defer { xmlFreeDoc(document) }
        guard let rootNode = xmlDocGetRootElement(document) else { return nil }
        return tree(from: rootNode)
    }

    /// The element tree under `rootNode`, walked with an explicit stack (no recursion on
    /// input): elements by local name, and the text directly inside each.
    private static func tree(from rootNode: xmlNodePtr) -> XMLTree? {
        let root = XMLTree(name: name(of: rootNode))
        root.attributes = attributes(of: rootNode)
        var pending: [(node: xmlNodePtr, element: XMLTree, depth: Int)] = [(rootNode, root, 1)]
        while let (node, element, depth) = pending.popLast() {
            var child = node.pointee.children
            while let current = child {
                switch current.pointee.type {
                case XML_ELEMENT_NODE:
                    guard depth < maximumDepth else { return nil }
                    let nested = XMLTree(name: name(of: current))
                    nested.attributes = attributes(of: current)
                    element.children.append(nested)
                    pending.append((current, nested, depth + 1))
                case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                    if let content = current.pointee.content { element.text += String(cString: content) }
                default:
                    break
                }
                child = current.pointee.next
            }
        }
        return root
    }

    private static func attributes(of node: xmlNodePtr) -> [String: String] {
        var found: [String: String] = [:]
        var attribute = node.pointee.properties
        while let current = attribute {
            let name = current.pointee.name.map { String(cString: $0) } ?? ""
            var value = ""
            var text = current.pointee.children
            while let part = text {
                if let content = part.pointee.content { value += String(cString: content) }
                text = part.pointee.next
            }
            found[name] = value
            attribute = current.pointee.next
        }
        return found
    }

    private static func name(of node: xmlNodePtr) -> String {
        node.pointee.name.map { String(cString: $0) } ?? ""
    }

    /// Documents as S3 clients send them: valid UTF-8, declared UTF-8 or not declared at
    /// all, and no DTD (none has one, and it is where entity expansion tricks live).
    public static func isAcceptable(_ data: Data) -> Bool {
        guard let text = String(validating: data, as: UTF8.self) else { return false }
        if text.contains("<!") && (text.contains("<!DOCTYPE") || text.contains("<!ENTITY")) { return false }
        let body = text.hasPrefix("\u{FEFF}") ? text.dropFirst() : text[...]
        if body.hasPrefix("<?xml"), let end = body.range(of: "?>") {
            let declaration = body[..<end.lowerBound].lowercased()
            if declaration.contains("encoding"), !(declaration.contains("\"utf-8\"") || declaration.contains("'utf-8'")) { return false }
        }
        return true
    }
}
