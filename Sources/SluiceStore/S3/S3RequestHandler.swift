import Crypto
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import SluiceHTTP
import Synchronization

/// One parsed request, with who sent it.
struct S3Call {
    var head: HTTPRequestHead
    var path: String
    var query: [(name: String, value: String)]
    var operation: S3Operation
    /// The access key of a signed request; nil for anonymous ones.
    var accessKey: String?
    var payload: PayloadMode
    var requestID: String
    /// The users as this request sees them.
    var users: UserDirectory
    /// Who signed it; nil for an unsigned request.
    var user: StoreUser?

    func header(_ name: String) -> String? { head.headers.first(name: name) }
    func parameter(_ name: String) -> String? { query.first { $0.name == name }?.value }
}

/// How the request body is protected (from x-amz-content-sha256).
enum PayloadMode {
    case unsigned
    case sha256(String)
    case chunked(AWSChunkedDecoder.Signing?)
}

struct S3RequestHandler: HTTPResponder {
    let store: LocalObjectStore
    let users: UserDirectorySource
    let configuration: S3APIConfiguration
    let threadPool: NIOThreadPool
    let logger: Logger
    let authenticator: S3Authenticator

    /// S3's single-PUT limit.
    static let maximumObjectSize: Int64 = 5 * 1024 * 1024 * 1024

    init(store: LocalObjectStore, users: UserDirectorySource, configuration: S3APIConfiguration, threadPool: NIOThreadPool, logger: Logger) {
        self.store = store
        self.users = users
        self.configuration = configuration
        self.threadPool = threadPool
        self.logger = logger
        authenticator = S3Authenticator(configuration)
    }

    func respond(to head: HTTPRequestHead, connection: HTTPConnection, context: HTTPRequestContext) async -> S3Answer {
        await respond(head, connection: connection, requestID: context.requestID)
    }

    func written(_ answer: S3Answer, for head: HTTPRequestHead, context: HTTPRequestContext, elapsed: Duration) {
        logRequest(head, answer, elapsed: elapsed, requestID: context.requestID, peer: context.peer)
    }

    /// One line per request, as an access log: who, what, the answer, its size, how long,
    /// the request id a client reports, and for a refusal its S3 code and why.
    func logRequest(_ head: HTTPRequestHead, _ answer: S3Answer, elapsed: Duration, requestID: String, peer: SocketAddress?) {
        let status = answer.reply.status
        let bytes = answer.reply.bodyLength(for: head.method)
        let parts = elapsed.components
        let milliseconds = Double(parts.seconds) * 1000 + Double(parts.attoseconds) / 1e15
        let client = peer?.ipAddress ?? "-"
        var line = "S3 \(client) \(head.method) \(answer.resource) \(answer.operation) \(status.code) \(bytes) bytes "
            + "\(String(format: "%.1f", milliseconds)) ms id=\(requestID)"
        if let failure = answer.failure { line += " \(failure.code): \(failure.logReason ?? failure.message)" }
        logger.log(level: status.code >= 500 ? .warning : .info, "\(line)")
        Self.requests[RequestLabel(operation: answer.operation, status: status.code)].increment()
    }

    struct RequestLabel: Hashable, Sendable {
        var operation: String
        var status: UInt
    }

    static let requests = LabelledMetrics<RequestLabel, Counter> {
        Counter(label: "sluice_s3_requests_total", dimensions: [("operation", $0.operation), ("status", String($0.status))])
    }

    // MARK: Dispatch

    /// What a request was answered, for the writer and the access log.
    struct S3Answer: HTTPAnswer {
        var reply: S3Reply
        /// `/BUCKET/KEY`, `/BUCKET` or `/`.
        var resource: String
        /// S3's name of the operation (`PutObjectAcl`…).
        var operation: String
        /// The error when the request was refused.
        var failure: S3Error?
    }

    func respond(_ head: HTTPRequestHead, connection: S3Connection, requestID: String) async -> S3Answer {
        var call = authenticator.call(for: head, requestID: requestID)
        let operation = call.operation
        let named = (operation.bucket.map { "/" + $0 } ?? "") + Self.keyOf(operation).map { "/" + $0 } .orEmpty
        let resource = named.isEmpty ? "/" : named
        let name = operation.name
        let failure: S3Error
        do {
            // A CORS preflight, answered as by a bucket without a CORS configuration
            // (before the signature, which a preflight never carries).
            if head.method == .OPTIONS {
                throw head.headers.contains(name: "origin")
                    ? S3Error("AccessForbidden", .forbidden, "CORSResponse: This CORS request is not allowed.")
                    : S3Error("BadRequest", .badRequest, "Insufficient information. Origin request header needed.")
            }
            do {
                try authenticator.authenticate(&call, now: Date(), users: try await users.current(on: threadPool))
            } catch let error as S3Error where error.code == "InvalidAccessKeyId" && users.mayReload() {
                try authenticator.authenticate(&call, now: Date(), users: try await users.reloaded(on: threadPool))
            }
            return S3Answer(reply: try await perform(call, connection: connection), resource: resource, operation: name)
        } catch let error as S3Error {
            failure = error
        } catch let error as StoreError {
            failure = S3Error(error)
        } catch let error as HTTPRequestError {
            failure = S3Error(error.code, error.status, error.message)
        } catch {
            failure = S3Error("InternalError", .internalServerError, "\(error)")
        }
        return S3Answer(reply: .data(failure.status, [], failure.document(resource: resource, requestID: requestID)), resource: resource,
                        operation: name, failure: failure)
    }

    static func keyOf(_ operation: S3Operation) -> String? {
        switch operation {
        case .putObject(_, let k), .copyObject(_, let k), .getObject(_, let k), .headObject(_, let k), .deleteObject(_, let k),
             .getObjectACL(_, let k), .putObjectACL(_, let k), .createMultipartUpload(_, let k), .uploadPart(_, let k, _, _),
             .completeMultipartUpload(_, let k, _), .abortMultipartUpload(_, let k, _), .listParts(_, let k, _):
            return k
        default: return nil
        }
    }

    // MARK: Bodies

    /// Reads the request body through the payload checks (SHA-256, aws-chunked
    /// signatures, Content-MD5, x-amz-checksum-*) into `sink`; throws when any fails,
    /// before the caller commits anything.
    func readBody(_ call: S3Call, connection: S3Connection, limit: Int64, into sink: (UnsafeRawBufferPointer) throws -> Void,
                  afterEachPart: () async throws -> Void = {}) async throws -> (length: Int64, checksum: (ChecksumAlgorithm, String)?) {
        var sha256 = SHA256()
        var md5: Insecure.MD5? = call.header("content-md5") != nil ? Insecure.MD5() : nil
        var decoder: AWSChunkedDecoder?
        var rawLength: Int64 = 0
        var decodedLength: Int64 = 0
        var checksum: RunningChecksum?
        var expectedChecksum: String?
        for algorithm in ChecksumAlgorithm.allCases {
            if let value = call.header(algorithm.headerName) {
                checksum = RunningChecksum(algorithm)
                expectedChecksum = value
            }
        }
        if case .chunked(let signing) = call.payload {
            decoder = AWSChunkedDecoder(signing: signing)
            if checksum == nil, let trailer = call.header("x-amz-trailer"), let algorithm = ChecksumAlgorithm(headerName: trailer) {
                checksum = RunningChecksum(algorithm)
            }
        } else if checksum == nil, let name = call.header("x-amz-sdk-checksum-algorithm"), ChecksumAlgorithm(rawValue: name.uppercased()) == nil {
            throw S3Error("InvalidRequest", .badRequest, "Sluice does not support the checksum algorithm \(name)")
        }
        let hashRaw: Bool = if case .sha256 = call.payload { true } else { false }

        func deliver(_ bytes: UnsafeRawBufferPointer) throws {
            decodedLength += Int64(bytes.count)
            if decodedLength > limit {
                throw limit == Self.maximumObjectSize
                    ? S3Error("EntityTooLarge", .badRequest, "Your proposed upload exceeds the maximum allowed object size.")
                    : S3Error("MaxMessageLengthExceeded", .badRequest, "Your request was too big.")
            }
            md5?.update(bufferPointer: bytes)
            checksum?.update(bytes)
            try sink(bytes)
        }

        while let buffer = try await connection.nextBodyPart() {
            rawLength += Int64(buffer.readableBytes)
            try buffer.withUnsafeReadableBytes { bytes in
                if hashRaw { sha256.update(bufferPointer: bytes) }
                if decoder != nil {
                    do {
                        try decoder!.feed(bytes, emit: deliver)
                    } catch let failure as AWSChunkedDecoder.Failure {
                        throw failure.kind == .signatureDoesNotMatch
                            ? S3Error("SignatureDoesNotMatch", .forbidden, failure.message)
                            : S3Error("IncompleteBody", .badRequest, failure.message)
                    }
                } else {
                    try deliver(bytes)
                }
            }
            try await afterEachPart()
        }

        if case .sha256(let expected) = call.payload {
            let actual = SignatureV4.hex(sha256.finalize())
            guard actual == expected else {
                throw S3Error("XAmzContentSHA256Mismatch", .badRequest, "The provided 'x-amz-content-sha256' header does not match what was computed.")
            }
        }
        if let decoder {
            guard decoder.isComplete else { throw S3Error("IncompleteBody", .badRequest, "The aws-chunked body ended before its final chunk.") }
            if let declared = call.header("x-amz-decoded-content-length").flatMap(Int64.init), declared != decodedLength {
                throw S3Error("IncompleteBody", .badRequest, "x-amz-decoded-content-length says \(declared) bytes; the body had \(decodedLength).")
            }
            if expectedChecksum == nil, let algorithm = checksum?.algorithm {
                expectedChecksum = decoder.trailers.first { $0.name == algorithm.headerName }?.value
                if expectedChecksum == nil {
                    throw S3Error("InvalidRequest", .badRequest, "x-amz-trailer announced \(algorithm.headerName) but the body did not carry it.")
                }
            }
        }
        if let md5, let declared = call.header("content-md5") {
            guard Data(base64Encoded: declared)?.count == 16 else {
                throw S3Error("InvalidDigest", .badRequest, "The Content-MD5 you specified was invalid.")
            }
            guard Data(md5.finalize()).base64EncodedString() == declared else {
                throw S3Error.badDigest("The Content-MD5 you specified did not match what we received.")
            }
        }
        var verified: (ChecksumAlgorithm, String)?
        if let checksum, let expectedChecksum {
            let actual = checksum.finalize()
            guard actual == expectedChecksum else {
                throw S3Error.badDigest("The \(checksum.algorithm.rawValue) you specified did not match the calculated checksum.")
            }
            verified = (checksum.algorithm, actual)
        }
        return (decodedLength, verified)
    }

    /// A small request document (XML), read whole.
    func readDocument(_ call: S3Call, connection: S3Connection) async throws -> Data {
        var data = Data()
        _ = try await readBody(call, connection: connection, limit: Int64(configuration.maximumDocumentSize)) { data.append(contentsOf: $0) }
        return data
    }

    /// Runs blocking disk work (fsync, copies) off the cooperative threads.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await threadPool.runIfActive(body)
    }
}

extension Optional where Wrapped == String {
    var orEmpty: String { self ?? "" }
}

/// Moves a non-Sendable value into blocking work that alone uses it.
struct Handover<Value>: @unchecked Sendable {
    let value: Value
}
