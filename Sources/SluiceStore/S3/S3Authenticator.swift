import Foundation
import NIOHTTP1

/// Reads who sent a request and what it asks for: the target split into path and
/// query, the operation, and the signature checks of every form S3 clients use. Pure
/// (no store, no sockets), so that it is unit-tested and fuzzed as it runs.
struct S3Authenticator: Sendable {
    let router: S3Router
    let allowedClockSkew: TimeInterval

    init(_ configuration: S3APIConfiguration) {
        router = S3Router(domains: configuration.domains)
        allowedClockSkew = configuration.allowedClockSkew
    }

    /// The call a request head makes, before its signature is checked.
    func call(for head: HTTPRequestHead, requestID: String) -> S3Call {
        let (path, query) = S3Router.splitTarget(head.uri)
        let operation = router.route(method: head.method.rawValue, path: path, query: query, host: head.headers.first(name: "host"),
                                     headers: { head.headers.first(name: $0) })
        return S3Call(head: head, path: path, query: query, operation: operation, accessKey: nil, payload: .unsigned, requestID: requestID,
                      users: UserDirectory(stored: []), user: nil)
    }

    /// Checks the signature (header or presigned URL) and decides how the body is
    /// protected; the signer is one of `users`. Unsigned requests pass as anonymous; what
    /// they may do is checked later.
    func authenticate(_ call: inout S3Call, now: Date, users: UserDirectory) throws(S3Error) {
        call.users = users
        try verify(&call, now: now)
        call.user = call.accessKey.flatMap(users.user(forAccessKey:))
    }

    private func verify(_ call: inout S3Call, now: Date) throws(S3Error) {
        let request = SignatureV4.Request(method: call.head.method.rawValue, path: call.path, query: call.query,
                                          headers: call.head.headers.map { ($0.name, $0.value) })
        let users = call.users
        let secrets = { (key: String) in users.secret(forAccessKey: key) }
        let virtualBucket = router.virtualHostBucket(host: call.header("host"))
        if call.header("authorization")?.hasPrefix("AWS ") == true {
            switch SignatureV2.verify(request, virtualHostBucket: virtualBucket, secret: secrets) {
            case .success(let key): call.accessKey = key
            case .failure(let failure): throw Self.error(for: failure)
            }
            call.payload = .unsigned
        } else if call.parameter("AWSAccessKeyId") != nil {
            switch SignatureV2.verifyPresigned(request, virtualHostBucket: virtualBucket, now: now, secret: secrets) {
            case .success(let key): call.accessKey = key
            case .failure(let failure): throw Self.error(for: failure)
            }
            call.payload = .unsigned
        } else if call.header("authorization") != nil {
            let authorization: SignatureV4.Authorization
            switch SignatureV4.verify(request, secret: secrets) {
            case .success(let value): authorization = value
            case .failure(let failure): throw Self.error(for: failure)
            }
            if let amzDate = call.header("x-amz-date"), let signed = SignatureV4.date(amzDate),
               abs(signed.timeIntervalSince(now)) > allowedClockSkew {
                throw S3Error("RequestTimeTooSkewed", .forbidden, "The difference between the request time and the server's time is too large.")
            }
            call.accessKey = authorization.accessKey
            let content = call.header("x-amz-content-sha256") ?? SignatureV4.emptyPayloadHash
            switch content {
            case SignatureV4.unsignedPayload:
                call.payload = .unsigned
            case "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
                call.payload = .chunked(nil)
            case SignatureV4.streamingPayload, SignatureV4.streamingPayload + "-TRAILER":
                let scope = authorization.scope
                call.payload = .chunked(AWSChunkedDecoder.Signing(
                    key: SignatureV4.signingKey(secret: secrets(authorization.accessKey) ?? "", scope: scope),
                    amzDate: call.header("x-amz-date") ?? "", scope: scope, seedSignature: authorization.signature))
            default:
                guard content.count == 64, content.allSatisfy(\.isHexDigit) else {
                    throw S3Error("InvalidArgument", .badRequest, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING- mode or a SHA-256 hex digest")
                }
                call.payload = .sha256(content.lowercased())
            }
        } else if call.parameter("X-Amz-Algorithm") != nil || call.parameter("X-Amz-Signature") != nil {
            switch SignatureV4.verifyPresigned(request, now: now, secret: secrets) {
            case .success(let key): call.accessKey = key
            case .failure(let failure): throw Self.error(for: failure)
            }
            call.payload = .unsigned
        } else {
            call.accessKey = nil
            call.payload = .unsigned
        }
    }

    static func error(for failure: SignatureV4.Failure) -> S3Error {
        switch failure {
        case .malformed(let message): return S3Error("AuthorizationHeaderMalformed", .badRequest, message)
        case .unknownAccessKey(let key):
            return S3Error("InvalidAccessKeyId", .forbidden, "The AWS Access Key Id you provided does not exist in our records.",
                           details: [("AWSAccessKeyId", key)])
        case .signatureDoesNotMatch:
            return S3Error("SignatureDoesNotMatch", .forbidden,
                           "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
        case .expired: return .accessDenied("Request has expired")
        }
    }

}
