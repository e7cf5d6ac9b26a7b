import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import SluiceHTTP
@testable import SluiceStore

/// The S3 API's parsers: a request head into a call (operation, signature checks, range,
/// conditions), aws-chunked bodies, and the XML request documents.
enum S3Targets {
    static let accessKey = "AKIDFUZZ"
    static let secret = "fuzz/secret+key"
    static let authenticator = S3Authenticator(S3APIConfiguration())
    static let users = UserDirectory(stored: [
        StoreUser(id: StoreUser.stableID(name: "fuzz"), name: "fuzz", email: "fuzz@example.com", isAdministrator: true,
                  keys: [AccessKeyPair(accessKey: accessKey, secretKey: secret)]),
    ])

    /// A request head as text: `METHOD TARGET` on the first line, `Name: value` after.
    static func head(_ bytes: [UInt8]) -> HTTPRequestHead? {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard let first = lines.first else { return nil }
        let words = first.split(separator: " ", maxSplits: 1)
        guard words.count == 2, words[0].utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), !words[1].utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F })
        else { return nil }
        var headers = HTTPHeaders()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon], value = line[line.index(after: colon)...]
            // What NIO's HTTP parser lets through: token names, values without CR, LF or NUL.
            guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !"()<>@,;:\\\"/[]?={}".utf8.contains($0) }),
                  !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else { continue }
            headers.add(name: String(name), value: String(value).trimmingCharacters(in: .whitespaces))
        }
        return HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: String(words[0])), uri: String(words[1]), headers: headers)
    }

    static let request = FuzzTarget(name: "s3-request", summary: "S3 request heads: target, query, routing, signatures, ranges, dates",
                                    seeds: S3Seeds.requests) { bytes in
        guard let head = head(bytes) else { return }
        var call = authenticator.call(for: head, requestID: "FUZZ")
        _ = call.operation.bucket
        _ = try? authenticator.authenticate(&call, now: Date(timeIntervalSince1970: 1_764_000_000), users: users)
        // The ACL a PUT's headers ask for (x-amz-acl, x-amz-grant-*).
        if let policy = try? S3Grants.fromHeaders({ head.headers.first(name: $0) }, owner: "", bucketOwner: nil, users: users) {
            require(policy.grants.count <= S3Grants.headers.count * S3Grants.maximumGrants, "\(policy.grants.count) grants")
        }
        for size: Int64 in [0, 1, 1000, Int64.max] {
            switch ByteRange(header: head.headers.first(name: "range"), size: size) {
            case .partial(let range):
                require(range.lowerBound >= 0 && range.upperBound < size, "range \(range) of a \(size)-byte object")
            case .whole, .unsatisfiable:
                break
            }
        }
        for name in ["if-modified-since", "if-unmodified-since", "date"] {
            if let value = head.headers.first(name: name), let date = S3Date.parseHTTP(value) {
                _ = S3Date.http(date)
            }
        }
        if let value = head.headers.first(name: "x-amz-date") { _ = SignatureV4.date(value) }
        if let value = head.headers.first(name: "x-amz-expires-at"), let date = S3Date.parseISO8601(value) { _ = S3Date.iso8601(date) }
        // What a PUT stores from its headers, and what a GET then sends back.
        for (_, value) in S3RequestHandler.userMetadata(head.headers) {
            let sent = S3RequestHandler.headerSafe(value)
            require(!sent.utf8.contains(where: { $0 >= 0x80 || $0 == 0x0D || $0 == 0x0A }), "metadata sent back as a header: \(sent)")
        }
        _ = S3RequestHandler.storedHeaders(head.headers)
        _ = try? S3RequestHandler.writeCondition(call)
    }

    static let signatures = FuzzTarget(name: "s3-signatures", summary: "SigV4 and SigV2 Authorization headers and presigned queries",
                                       seeds: S3Seeds.signedRequests) { bytes in
        guard let head = head(bytes) else { return }
        let (path, query) = S3Router.splitTarget(head.uri)
        let request = SignatureV4.Request(method: head.method.rawValue, path: path, query: query,
                                          headers: head.headers.map { ($0.name, $0.value) })
        let secrets: (String) -> String? = { $0 == accessKey ? secret : nil }
        let now = Date(timeIntervalSince1970: 1_764_000_000)
        if let header = head.headers.first(name: "authorization") { _ = SignatureV4.Authorization(header) }
        _ = SignatureV4.verify(request, secret: secrets)
        _ = SignatureV4.verifyPresigned(request, now: now, secret: secrets)
        _ = SignatureV2.verify(request, virtualHostBucket: nil, secret: secrets)
        _ = SignatureV2.verifyPresigned(request, virtualHostBucket: "media", now: now, secret: secrets)
    }

    static let awsChunked = FuzzTarget(name: "aws-chunked", summary: "aws-chunked bodies, signed and unsigned, fed in pieces",
                                       seeds: S3Seeds.chunkedBodies) { bytes in
        var input = FuzzInput(bytes)
        let signed = input.byte() & 1 == 1
        let sizes = input.take(3)
        var decoder = AWSChunkedDecoder(signing: signed ? S3Seeds.chunkSigning : nil)
        var emitted: Int64 = 0
        do {
            for piece in pieces(input.rest, sizes: sizes) {
                try piece.withUnsafeBytes { raw in
                    try decoder.feed(raw) { emitted += Int64($0.count) }
                }
            }
        } catch {
            return
        }
        require(emitted == decoder.decodedLength, "emitted \(emitted) bytes, decoder counted \(decoder.decodedLength)")
    }

    static let xmlBodies = FuzzTarget(name: "s3-xml", summary: "CompleteMultipartUpload, Delete and AccessControlPolicy documents, x-amz-grant-* values",
                                      seeds: S3Seeds.documents) { bytes in
        let document = Data(bytes)
        if let parts = try? S3RequestBody.completedParts(document) {
            require(parts.count <= S3RequestBody.maximumParts, "\(parts.count) parts")
            require(parts.allSatisfy { (1...S3RequestBody.maximumParts).contains($0.number) }, "part number out of range")
        }
        if let (keys, _, _, _) = try? S3RequestBody.objectsToDelete(document) {
            require(keys.count <= S3RequestBody.maximumObjectsToDelete, "\(keys.count) keys")
        }
        if let (_, grants) = try? S3Grants.parsePolicy(document) {
            require(grants.count <= S3Grants.maximumGrants, "\(grants.count) grants")
        }
        // The same bytes as an x-amz-grant-* header value.
        if let grants = try? S3Grants.parseHeader(String(decoding: document, as: UTF8.self), permission: .read) {
            require(grants.count <= S3Grants.maximumGrants, "\(grants.count) header grants")
        }
    }

    /// A browser form upload's body, in pieces: fields held within their bounds, the file's
    /// bytes passed on, then the policy (base64 JSON) and signature the fields carry.
    static let postForm = FuzzTarget(name: "s3-post-form", summary: "POST Object forms: multipart/form-data, the policy JSON and its signature",
                                     seeds: S3Seeds.postForms) { bytes in
        var input = FuzzInput(bytes)
        let sizes = input.take(3)
        let rest = input.rest
        let newline = rest.firstIndex(of: 0x0A) ?? rest.endIndex
        let contentType = String(decoding: rest[..<newline], as: UTF8.self)
        guard let form = S3PostFormReader(contentType: contentType) else { return }
        var fileBytes = 0
        do {
            for piece in pieces(Array(rest[min(newline + 1, rest.endIndex)...]), sizes: sizes) {
                try form.feed(ByteBuffer(bytes: piece))
                fileBytes += form.takeFileBytes()?.readableBytes ?? 0
            }
        } catch {
            return
        }
        require(form.fields.count <= S3PostFormReader.maximumFields, "\(form.fields.count) fields")
        require(form.fields.reduce(0) { $0 + $1.value.utf8.count } <= S3PostFormReader.fieldLimit, "fields over the limit")
        guard let policy = form.fields.first(where: { $0.name == "policy" })?.value else { return }
        _ = try? S3PostPolicy.signer(of: form.fields, policy: policy, secret: { $0 == accessKey ? secret : nil })
        if let parsed = try? S3PostPolicy(base64: policy) {
            _ = try? parsed.check(fields: form.fields, bucket: "media", now: Date(timeIntervalSince1970: 1_764_000_000))
            if let range = parsed.contentLengthRange { require(range.lowerBound >= 0, "range \(range)") }
        }
    }
}
