import Foundation
import NIOCore
import NIOHTTP1

/// POST Object: a browser form uploads a file straight into a bucket, authorised by a
/// policy its owner signed (so a page, such as a basic distribution's upload page, needs
/// no credentials of its own). The form's fields come first and are checked against the
/// policy before a byte of the file is stored; the file streams to disk as it arrives.
extension S3RequestHandler {
    func postObject(_ call: S3Call, bucket: String, connection: S3Connection) async throws -> S3Reply {
        guard let form = S3PostFormReader(contentType: call.header("content-type")) else {
            throw S3Error("PreconditionFailed", .preconditionFailed, "Bucket POST must be of the enclosure-type multipart/form-data")
        }
        try await requireBucket(bucket)
        var target: PostTarget?
        var pending = ByteBuffer()
        var size: Int64 = 0
        func startIfReady() async throws {
            guard target == nil, let filename = form.filename else { return }
            target = try await postTarget(call, form.fields, filename: filename, fileContentType: form.fileContentType, bucket: bucket)
        }
        func flush(atLeast bytes: Int) async throws {
            if var more = form.takeFileBytes() { pending.writeBuffer(&more) }
            guard let upload = target?.upload, pending.readableBytes >= max(1, bytes) else { return }
            let batch = pending
            pending = ByteBuffer()
            size += Int64(batch.readableBytes)
            try await blocking { try batch.withUnsafeReadableBytes { try upload.value.append($0) } }
        }
        do {
            _ = try await readBody(call, connection: connection, limit: Self.maximumObjectSize + Int64(S3PostFormReader.fieldLimit) + 4096,
                                   into: { try form.feed(ByteBuffer(bytes: $0)) },
                                   afterEachPart: {
                                       try await startIfReady()
                                       try await flush(atLeast: 256 << 10)
                                   })
            try await startIfReady()
            try await flush(atLeast: 1)
            guard let target, form.fileComplete else {
                throw form.filename == nil
                    ? S3Error.invalidArgument("POST requires exactly one file upload per request.")
                    : S3PostFormReader.malformed
            }
            if let range = target.lengthRange, !range.contains(size) {
                throw size < range.lowerBound
                    ? S3Error("EntityTooSmall", .badRequest, "Your proposed upload is smaller than the minimum allowed size")
                    : S3Error("EntityTooLarge", .badRequest, "Your proposed upload exceeds the maximum allowed size")
            }
            let info = try await blocking {
                try target.upload.value.commit(contentType: target.contentType, access: target.access, metadata: target.metadata, headers: target.headers)
            }
            return postAnswer(form.fields, bucket: bucket, info: info)
        } catch {
            if let upload = target?.upload { try? await blocking { upload.value.abort() } }
            throw error
        }
    }

    /// What a checked form uploads: where, and with what.
    struct PostTarget {
        var upload: Handover<ObjectUpload>
        var contentType: String?
        var access: AccessPolicy
        var metadata: [String: String]
        var headers: [String: String]
        var lengthRange: ClosedRange<Int64>?
    }

    /// Checks the signature and the policy, then opens the upload the fields name. The
    /// signer needs WRITE on the bucket; a form without a policy is anonymous and needs a
    /// bucket that grants AllUsers WRITE (public-read-write).
    func postTarget(_ call: S3Call, _ fields: [(name: String, value: String)], filename: String, fileContentType: String?,
                    bucket: String) async throws -> PostTarget {
        func field(_ name: String) -> String? { fields.first { $0.name == name }?.value }
        var signed = call
        var policy: S3PostPolicy?
        if let policyText = field("policy") {
            let users = call.users
            let accessKey = try S3PostPolicy.signer(of: fields, policy: policyText, secret: { users.secret(forAccessKey: $0) })
            signed.user = users.user(forAccessKey: accessKey)
            policy = try S3PostPolicy(base64: policyText)
            // The key's conditions hold for the key stored, `${filename}` filled in.
            let filled = fields.map { $0.name == "key" ? ($0.name, $0.value.replacingOccurrences(of: "${filename}", with: filename)) : $0 }
            try policy?.check(fields: filled, bucket: bucket, now: Date())
        } else {
            signed.user = nil
        }
        let bucketInfo = try await authorizedBucket(signed, bucket, .write)
        guard let template = field("key"), !template.isEmpty else {
            throw S3Error.invalidArgument("Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
        }
        let key = template.replacingOccurrences(of: "${filename}", with: filename)
        // The form's `acl` field is the header's x-amz-acl; grant fields keep their names.
        let access = try S3Grants.fromHeaders({ field($0 == "x-amz-acl" ? "acl" : $0) }, owner: signed.user?.id ?? bucketInfo.access.owner,
                                              bucketOwner: bucketInfo.access.owner, users: call.users)
            ?? AccessPolicy(canned: .private, owner: signed.user?.id ?? bucketInfo.access.owner)
        var metadata: [String: String] = [:]
        for (name, value) in fields where name.hasPrefix("x-amz-meta-") {
            metadata[String(name.dropFirst("x-amz-meta-".count))] = Self.decodedWord(value) ?? value
        }
        var headers: [String: String] = [:]
        for name in StoredHeader.names { if let value = field(name.lowercased()) { headers[name] = value } }
        let upload = try await onStore { Handover(value: try $0.beginUpload(bucket: bucket, key: key)) }
        return PostTarget(upload: upload, contentType: field("content-type") ?? fileContentType, access: access, metadata: metadata,
                          headers: headers, lengthRange: policy?.contentLengthRange)
    }

    /// 204 by default; 200 or 201 (with a PostResponse document) when the form asks; a
    /// 303 to `success_action_redirect` with the bucket, key and ETag in its query.
    func postAnswer(_ fields: [(name: String, value: String)], bucket: String, info: ObjectInfo) -> S3Reply {
        func field(_ name: String) -> String? { fields.first { $0.name == name }?.value }
        let location = "/\(bucket)/\(SignatureV4.encode(info.key, keepSlash: true))"
        let etag = "\"\(info.etag)\""
        if let redirect = field("success_action_redirect") ?? field("redirect"), var url = URLComponents(string: redirect), url.scheme != nil {
            url.queryItems = (url.queryItems ?? []) + [URLQueryItem(name: "bucket", value: bucket), URLQueryItem(name: "key", value: info.key),
                                                       URLQueryItem(name: "etag", value: etag)]
            if let target = url.string { return .empty(.seeOther, [("Location", target), ("ETag", etag)]) }
        }
        switch field("success_action_status") {
        case "200":
            return .empty(.ok, [("ETag", etag), ("Location", location)])
        case "201":
            var xml = S3XMLWriter()
            xml.start("PostResponse")
            xml.element("Location", location)
            xml.element("Bucket", bucket)
            xml.element("Key", info.key)
            xml.element("ETag", etag)
            xml.end()
            return .data(.created, [("ETag", etag), ("Location", location)], xml.text)
        default:
            return .empty(.noContent, [("ETag", etag), ("Location", location)])
        }
    }
}
