import SluiceHTTP
import SluiceXML
import Foundation

/// Builds the XML documents S3 answers with.
struct S3XMLWriter {
    private(set) var text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    private var open: [String] = []

    static let namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

    mutating func start(_ name: String, namespace: String? = nil) {
        text += namespace.map { "<\(name) xmlns=\"\($0)\">" } ?? "<\(name)>"
        open.append(name)
    }

    mutating func start(_ name: String, attributes: [(name: String, value: String)]) {
        text += "<\(name)" + attributes.map { " \($0.name)=\"\(Self.escape($0.value))\"" }.joined() + ">"
        open.append(name)
    }

    mutating func end() {
        text += "</\(open.removeLast())>"
    }

    mutating func element(_ name: String, _ value: String) {
        text += "<\(name)>\(Self.escape(value))</\(name)>"
    }

    mutating func element(_ name: String, _ body: (inout S3XMLWriter) -> Void) {
        start(name)
        body(&self)
        end()
    }

    static func escape(_ value: String) -> String {
        var output = ""
        output.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"": output += "&quot;"
            case "'": output += "&apos;"
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output
    }
}

/// S3's request documents (CompleteMultipartUpload, Delete, AccessControlPolicy) are
/// parsed into the shared libxml2 tree.
typealias S3XMLElement = XMLTree

/// S3's dates are HTTP's (headers), SigV4's and XML's: one implementation, in SluiceHTTP.
typealias S3Date = HTTPDate
