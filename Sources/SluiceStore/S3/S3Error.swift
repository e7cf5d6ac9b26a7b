import Foundation
import NIOHTTP1

/// An S3 error document: the code clients branch on, the HTTP status, a message.
public struct S3Error: Error, Sendable, CustomStringConvertible {
    public var code: String
    public var status: HTTPResponseStatus
    public var message: String
    /// Extra elements (`Key`, `BucketName`, `UploadId`…) in the document.
    public var details: [(String, String)] = []
    /// Why, for the server's log only, where the client must not learn it (an anonymous
    /// caller is told AccessDenied whether the object is private or missing).
    var logReason: String?

    public init(_ code: String, _ status: HTTPResponseStatus, _ message: String, details: [(String, String)] = []) {
        self.code = code
        self.status = status
        self.message = message
        self.details = details
    }

    public var description: String { "\(code): \(message)" }

    init(_ error: StoreError) {
        let status: HTTPResponseStatus
        switch error.code {
        case .noSuchBucket, .noSuchKey, .noSuchUpload: status = .notFound
        case .bucketAlreadyOwnedByYou, .bucketNotEmpty: status = .conflict
        case .invalidBucketName, .invalidKey, .invalidPart, .invalidPartOrder, .entityTooSmall: status = .badRequest
        case .storageFull: status = .insufficientStorage
        case .internalError, .invalidConfiguration: status = .internalServerError
        case .accessDenied: status = .forbidden
        case .preconditionFailed: status = .preconditionFailed
        case .serviceUnavailable: status = .serviceUnavailable
        }
        self.init(error.code.rawValue, status, error.message)
    }

    static func accessDenied(_ message: String = "Access Denied", reason: String? = nil) -> S3Error {
        var error = S3Error("AccessDenied", .forbidden, message)
        error.logReason = reason
        return error
    }
    static func malformedXML(_ what: String) -> S3Error {
        S3Error("MalformedXML", .badRequest, "The XML you provided was not well-formed or did not validate against our published schema (\(what)).")
    }
    /// The answer to a request refused before it was parsed or routed (a limit, a
    /// malformed head), in S3's words where S3 has them.
    static func forRefusedRequest(_ status: HTTPResponseStatus, _ reason: String) -> S3Error {
        let code: String
        switch status {
        case .requestTimeout: code = "RequestTimeout"
        case .uriTooLong: code = "RequestURITooLong"
        case .requestHeaderFieldsTooLarge: code = "RequestHeaderSectionTooLarge"
        default: code = "BadRequest"
        }
        return S3Error(code, status, reason)
    }

    static func invalidArgument(_ message: String) -> S3Error { S3Error("InvalidArgument", .badRequest, message) }
    static func badDigest(_ message: String) -> S3Error { S3Error("BadDigest", .badRequest, message) }

    public func document(resource: String, requestID: String) -> String {
        var xml = S3XMLWriter()
        xml.start("Error")
        xml.element("Code", code)
        xml.element("Message", message)
        for (name, value) in details { xml.element(name, value) }
        xml.element("Resource", resource)
        xml.element("RequestId", requestID)
        xml.end()
        return xml.text
    }
}
