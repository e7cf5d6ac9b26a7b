import Foundation
import XMLCoder

/// A CloudFront error: the code clients branch on, its HTTP status, a message.
public struct ControlError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: String
    public var status: Int
    public var message: String

    public init(_ code: String, _ status: Int, _ message: String) {
        self.code = code
        self.status = status
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    static func malformed(_ message: String) -> ControlError { ControlError("MalformedInput", 400, message) }
    static func invalidArgument(_ message: String) -> ControlError { ControlError("InvalidArgument", 400, message) }
    static func inconsistentQuantities(_ message: String) -> ControlError { ControlError("InconsistentQuantities", 400, message) }
    static let missingBody = ControlError("MissingBody", 400, "This operation requires a body.")
    static func invalidOrigin(_ origin: String) -> ControlError {
        ControlError("InvalidOrigin", 400, "The origin \(origin) does not name an existing bucket.")
    }
    static func noSuch(_ kind: DistributionKind, _ id: String) -> ControlError {
        kind == .streaming ? ControlError("NoSuchStreamingDistribution", 404, "The specified streaming distribution does not exist: \(id).")
            : ControlError("NoSuchDistribution", 404, "The specified distribution does not exist: \(id).")
    }
    static func alreadyExists(_ kind: DistributionKind, _ id: String) -> ControlError {
        ControlError(kind == .streaming ? "StreamingDistributionAlreadyExists" : "DistributionAlreadyExists", 409,
                     "The caller reference you attempted to create the distribution with is associated with another distribution: \(id).")
    }
    static func notDisabled(_ kind: DistributionKind, _ id: String) -> ControlError {
        ControlError(kind == .streaming ? "StreamingDistributionNotDisabled" : "DistributionNotDisabled", 409,
                     "The distribution you are trying to delete has not been disabled: \(id).")
    }
    static func cnameExists(_ name: String) -> ControlError {
        ControlError("CNAMEAlreadyExists", 409, "One or more of the CNAMEs you provided are already associated with a different resource: \(name).")
    }
    static let preconditionFailed = ControlError("PreconditionFailed", 412, "The precondition given in one or more of the request header fields evaluated to false.")
    static let invalidIfMatch = ControlError("InvalidIfMatchVersion", 400, "The If-Match version is missing or not valid for the resource.")
    static func illegalUpdate(_ message: String) -> ControlError { ControlError("IllegalUpdate", 400, message) }

    /// The error document, in the namespace of the API version asked.
    public func document(version: APIVersion, requestID: String) -> String {
        struct Body: Encodable {
            struct Detail: Encodable {
                var `Type`: String
                var Code: String
                var Message: String
            }
            var Error: Detail
            var RequestId: String
        }
        let body = Body(Error: .init(Type: status >= 500 ? "Receiver" : "Sender", Code: code, Message: message), RequestId: requestID)
        return ControlXML.encode(body, root: "ErrorResponse", version: version)
    }
}

enum ControlXML {
    static func encode<T: Encodable>(_ value: T, root: String, version: APIVersion) -> String {
        let encoder = XMLEncoder()
        // Text needs only &, < and > escaped (quotes matter in attributes; each escaped
        // character costs XMLCoder a pass over every string). A carriage return written
        // raw would come back as a line feed (XML normalizes line ends): a caller
        // reference must read back exactly as it was sent.
        encoder.charactersEscapedInElements = [("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;")]
        let data = (try? encoder.encode(value, withRootKey: root, rootAttributes: ["xmlns": version.namespace],
                                        header: XMLHeader(version: 1.0, encoding: "UTF-8"))) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
