import Foundation
import NIOCore
import NIOHTTP1
import SluiceHTTP

/// The S3 operations, on the embedded store.
extension S3RequestHandler {
    func perform(_ call: S3Call, connection: S3Connection) async throws -> S3Reply {
        if case .invalid(let why) = call.operation { throw S3Error("MethodNotAllowed", .methodNotAllowed, why) }
        if case .invalidArgument(let why) = call.operation { throw S3Error.invalidArgument(why) }
        if case .notImplemented(let what) = call.operation {
            throw S3Error("NotImplemented", .notImplemented, "A header or query you provided implies functionality that is not implemented (\(what)).")
        }
        // A form upload carries its authorisation in its body (a signed policy), not its head.
        let formUpload: Bool = if case .postObject = call.operation { true } else { false }
        guard call.accessKey != nil || formUpload else { return try await anonymous(call) }

        switch call.operation {
        case .listBuckets:
            var xml = S3XMLWriter()
            xml.start("ListAllMyBucketsResult", namespace: S3XMLWriter.namespace)
            owner(&xml)
            xml.start("Buckets")
            for bucket in try await onStore({ try $0.listBuckets() }) {
                xml.element("Bucket") {
                    $0.element("Name", bucket.name)
                    $0.element("CreationDate", S3Date.iso8601(bucket.created))
                }
            }
            xml.end()
            xml.end()
            return .data(.ok, [], xml.text)

        case .createBucket(let bucket):
            _ = try await readDocument(call, connection: connection)
            // us-east-1 answers 200 for a bucket one already owns; other regions 409.
            if configuration.region == "us-east-1", try await onStore({ try $0.bucketExists(bucket) }) {
                return .empty(.ok, [("Location", "/" + bucket)])
            }
            try await onStore { try $0.createBucket(bucket) }
            return .empty(.ok, [("Location", "/" + bucket)])

        case .deleteBucket(let bucket):
            try await onStore { try $0.deleteBucket(bucket) }
            return .empty(.noContent, [])

        case .headBucket(let bucket):
            try await requireBucket(bucket)
            return .empty(.ok, [("x-amz-bucket-region", configuration.region)])

        case .getBucketLocation(let bucket):
            try await requireBucket(bucket)
            let region = configuration.region == "us-east-1" ? "" : S3XMLWriter.escape(configuration.region)
            return .data(.ok, [], "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"\(S3XMLWriter.namespace)\">\(region)</LocationConstraint>")

        case .getBucketACL(let bucket):
            try await requireBucket(bucket)
            return .data(.ok, [], aclDocument(.private))

        case .listObjects(let bucket, let version2):
            return try await listObjects(call, bucket: bucket, version2: version2)

        case .listObjectVersions(let bucket):
            return try await listObjectVersions(call, bucket: bucket)

        case .getBucketVersioning(let bucket):
            try await requireBucket(bucket)
            var xml = S3XMLWriter()
            xml.start("VersioningConfiguration", namespace: S3XMLWriter.namespace)
            xml.end()
            return .data(.ok, [], xml.text)

        case .listMultipartUploads(let bucket):
            var xml = S3XMLWriter()
            xml.start("ListMultipartUploadsResult", namespace: S3XMLWriter.namespace)
            xml.element("Bucket", bucket)
            xml.element("KeyMarker", "")
            xml.element("UploadIdMarker", "")
            xml.element("MaxUploads", "1000")
            xml.element("IsTruncated", "false")
            for upload in try await onStore({ try $0.listMultipartUploads(bucket: bucket) }) {
                xml.element("Upload") {
                    $0.element("Key", upload.key)
                    $0.element("UploadId", upload.id)
                    $0.element("Initiated", S3Date.iso8601(upload.created))
                    $0.element("StorageClass", "STANDARD")
                }
            }
            xml.end()
            return .data(.ok, [], xml.text)

        case .deleteObjects(let bucket):
            return try await deleteObjects(call, bucket: bucket, connection: connection)

        case .putObject(let bucket, let key):
            return try await putObject(call, bucket: bucket, key: key, connection: connection)

        case .copyObject(let bucket, let key):
            return try await copyObject(call, bucket: bucket, key: key)

        case .getObject(let bucket, let key), .headObject(let bucket, let key):
            return try getObject(call, info: try await onStore { try $0.headObject(bucket: bucket, key: key) })

        case .deleteObject(let bucket, let key):
            try await requireBucket(bucket)
            try await onStore { try $0.deleteObject(bucket: bucket, key: key) }
            return .empty(.noContent, [])

        case .getObjectACL(let bucket, let key):
            return .data(.ok, [], aclDocument(try await onStore { try $0.headObject(bucket: bucket, key: key).acl }))

        case .putObjectACL(let bucket, let key):
            _ = try await onStore { try $0.headObject(bucket: bucket, key: key) }
            let document = try await readDocument(call, connection: connection)
            let acl: ObjectACL
            if let canned = call.header("x-amz-acl") {
                acl = try Self.cannedACL(canned)
            } else if !document.isEmpty {
                acl = try S3RequestBody.acl(document)
            } else {
                throw S3Error("MissingSecurityHeader", .badRequest, "Your request was missing a required header: x-amz-acl or an AccessControlPolicy body.")
            }
            try await onStore { try $0.setACL(bucket: bucket, key: key, acl: acl) }
            return .empty(.ok, [])

        case .createMultipartUpload(let bucket, let key):
            let acl = try call.header("x-amz-acl").map(Self.cannedACL) ?? .private
            let (contentType, metadata) = (call.header("content-type"), Self.userMetadata(call.head.headers))
            let headers = Self.storedHeaders(call.head.headers)
            let id = try await onStore {
                try $0.createMultipartUpload(bucket: bucket, key: key, contentType: contentType, acl: acl, metadata: metadata, headers: headers)
            }
            var xml = S3XMLWriter()
            xml.start("InitiateMultipartUploadResult", namespace: S3XMLWriter.namespace)
            xml.element("Bucket", bucket)
            xml.element("Key", key)
            xml.element("UploadId", id)
            xml.end()
            return .data(.ok, [], xml.text)

        case .uploadPart(let bucket, let key, let uploadID, let number):
            let upload = try await onStore { Handover(value: try $0.beginPart(uploadID: uploadID, bucket: bucket, key: key)) }.value
            let checksum = try await receive(call, into: upload, connection: connection)
            let handover = Handover(value: upload)
            let store = self.store
            let part = try await blocking { try store.commitPart(handover.value, uploadID: uploadID, number: number) }
            var headers = [("ETag", "\"\(part.etag)\"")]
            if let checksum { headers.append((checksum.0.headerName, checksum.1)) }
            return .empty(.ok, headers)

        case .completeMultipartUpload(let bucket, let key, let uploadID):
            let document = try await readDocument(call, connection: connection)
            let chosen = try S3RequestBody.completedParts(document)
            let store = self.store
            let condition = try Self.writeCondition(call)
            let info = try await blocking {
                try store.completeMultipartUpload(uploadID: uploadID, bucket: bucket, key: key, parts: chosen, condition: condition)
            }
            var xml = S3XMLWriter()
            xml.start("CompleteMultipartUploadResult", namespace: S3XMLWriter.namespace)
            xml.element("Location", "/\(bucket)/\(key)")
            xml.element("Bucket", bucket)
            xml.element("Key", key)
            xml.element("ETag", "\"\(info.etag)\"")
            xml.end()
            return .data(.ok, [], xml.text)

        case .abortMultipartUpload(let bucket, let key, let uploadID):
            try await onStore { try $0.abortMultipartUpload(uploadID: uploadID, bucket: bucket, key: key) }
            return .empty(.noContent, [])

        case .listParts(let bucket, let key, let uploadID):
            let parts = try await onStore { try $0.listParts(uploadID: uploadID, bucket: bucket, key: key) }
            var xml = S3XMLWriter()
            xml.start("ListPartsResult", namespace: S3XMLWriter.namespace)
            xml.element("Bucket", bucket)
            xml.element("Key", key)
            xml.element("UploadId", uploadID)
            xml.element("PartNumberMarker", "0")
            xml.element("NextPartNumberMarker", String(parts.last?.number ?? 0))
            xml.element("MaxParts", "10000")
            xml.element("IsTruncated", "false")
            for part in parts {
                xml.element("Part") {
                    $0.element("PartNumber", String(part.number))
                    $0.element("LastModified", S3Date.iso8601(part.lastModified))
                    $0.element("ETag", "\"\(part.etag)\"")
                    $0.element("Size", String(part.size))
                }
            }
            xml.end()
            return .data(.ok, [], xml.text)

        case .postObject(let bucket):
            return try await postObject(call, bucket: bucket, connection: connection)

        case .invalid, .invalidArgument, .notImplemented:
            throw S3Error("NotImplemented", .notImplemented, "not implemented")
        }
    }

    /// Without credentials only GET and HEAD of public-read objects are allowed; every
    /// other request is AccessDenied, and so is a missing object (as S3 answers
    /// anonymous callers, who may not learn what exists). A missing bucket is named as
    /// such, as S3 names it to anyone.
    func anonymous(_ call: S3Call) async throws -> S3Reply {
        if let bucket = call.operation.bucket { try await requireBucket(bucket) }
        guard call.operation.isAnonymousRead, let bucket = call.operation.bucket, let key = Self.keyOf(call.operation) else {
            throw S3Error.accessDenied(reason: "an unsigned request may only GET or HEAD a public-read object")
        }
        let info: ObjectInfo
        do {
            info = try await onStore { try $0.headObject(bucket: bucket, key: key) }
        } catch {
            throw S3Error.accessDenied(reason: "unsigned request for an object that does not exist (\(error))")
        }
        guard info.acl == .publicRead else { throw S3Error.accessDenied(reason: "unsigned request for a private object") }
        return try getObject(call, info: info)
    }

    // MARK: Objects

    func putObject(_ call: S3Call, bucket: String, key: String, connection: S3Connection) async throws -> S3Reply {
        let acl = try call.header("x-amz-acl").map(Self.cannedACL) ?? .private
        if let declared = call.header("content-length").flatMap(Int64.init), declared > Self.maximumObjectSize,
           case .unsigned = call.payload {
            throw S3Error("EntityTooLarge", .badRequest, "Your proposed upload exceeds the maximum allowed object size.")
        }
        let condition = try Self.writeCondition(call)
        let upload = try await onStore { Handover(value: try $0.beginUpload(bucket: bucket, key: key)) }.value
        let checksum = try await receive(call, into: upload, connection: connection)
        let handover = Handover(value: upload)
        let contentType = call.header("content-type")
        let metadata = Self.userMetadata(call.head.headers)
        let stored = Self.storedHeaders(call.head.headers)
        let info = try await blocking {
            try handover.value.commit(contentType: contentType, acl: acl, metadata: metadata, headers: stored, condition: condition)
        }
        var headers = [("ETag", "\"\(info.etag)\"")]
        if let checksum { headers.append((checksum.0.headerName, checksum.1)) }
        return .empty(.ok, headers)
    }

    /// Streams an object or part body into `upload`; on any failed check the upload is
    /// dropped. Returns the verified checksum, if the client sent one.
    func receive(_ call: S3Call, into upload: ObjectUpload, connection: S3Connection) async throws -> (ChecksumAlgorithm, String)? {
        // The body gathers here and goes to disk on the thread pool in batches: a write
        // never waits on one of Swift's few cooperative threads.
        var pending = ByteBuffer()
        let target = Handover(value: upload)
        func flush(atLeast size: Int) async throws {
            guard pending.readableBytes >= max(1, size) else { return }
            let batch = pending
            pending = ByteBuffer()
            try await blocking { try batch.withUnsafeReadableBytes { try target.value.append($0) } }
        }
        do {
            let result = try await readBody(call, connection: connection, limit: Self.maximumObjectSize,
                                            into: { pending.writeBytes($0) }, afterEachPart: { try await flush(atLeast: 256 << 10) })
            try await flush(atLeast: 1)
            return result.checksum
        } catch {
            try? await blocking { target.value.abort() }
            throw error
        }
    }

    func copyObject(_ call: S3Call, bucket: String, key: String) async throws -> S3Reply {
        guard var source = call.header("x-amz-copy-source") else { throw S3Error.invalidArgument("x-amz-copy-source is missing") }
        if let question = source.firstIndex(of: "?") { source = String(source[..<question]) }
        source = source.removingPercentEncoding ?? source
        if source.hasPrefix("/") { source.removeFirst() }
        guard let slash = source.firstIndex(of: "/") else {
            throw S3Error.invalidArgument("x-amz-copy-source must be BUCKET/KEY")
        }
        let sourceBucket = String(source[..<slash]), sourceKey = String(source[source.index(after: slash)...])
        let original = try await onStore { try $0.headObject(bucket: sourceBucket, key: sourceKey) }
        if let match = call.header("x-amz-copy-source-if-match"), Self.unquote(match) != original.etag {
            throw S3Error("PreconditionFailed", .preconditionFailed, "At least one of the pre-conditions you specified did not hold")
        }
        if let noneMatch = call.header("x-amz-copy-source-if-none-match"), Self.unquote(noneMatch) == original.etag {
            throw S3Error("PreconditionFailed", .preconditionFailed, "At least one of the pre-conditions you specified did not hold")
        }
        let replace = call.header("x-amz-metadata-directive")?.uppercased() == "REPLACE"
        if sourceBucket == bucket && sourceKey == key && !replace && call.header("x-amz-acl") == nil {
            throw S3Error("InvalidRequest", .badRequest,
                          "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata.")
        }
        let acl = try call.header("x-amz-acl").map(Self.cannedACL) ?? .private
        let replacing = replace
            ? (contentType: call.header("content-type"), metadata: Self.userMetadata(call.head.headers), headers: Self.storedHeaders(call.head.headers))
            : nil
        let store = self.store
        let info = try await blocking {
            try store.copyObject(from: (sourceBucket, sourceKey), to: bucket, key: key, acl: acl, replacing: replacing)
        }
        var xml = S3XMLWriter()
        xml.start("CopyObjectResult", namespace: S3XMLWriter.namespace)
        xml.element("LastModified", S3Date.iso8601(info.lastModified))
        xml.element("ETag", "\"\(info.etag)\"")
        xml.end()
        return .data(.ok, [], xml.text)
    }

    func getObject(_ call: S3Call, info: ObjectInfo) throws -> S3Reply {
        var headers: [(String, String)] = [
            ("ETag", "\"\(info.etag)\""),
            ("Last-Modified", S3Date.http(info.lastModified)),
            ("Content-Type", call.parameter("response-content-type") ?? info.contentType),
            ("Accept-Ranges", "bytes"),
        ]
        // Stored headers as sent, each overridden by its `response-*` parameter.
        for name in StoredHeader.names {
            if let value = call.parameter("response-" + name.lowercased()) ?? info.headers[name] { headers.append((name, value)) }
        }
        for (name, value) in info.metadata.sorted(by: { $0.key < $1.key }) {
            headers.append(("x-amz-meta-" + name, Self.headerSafe(value)))
        }

        switch HTTPConditions.evaluate(etag: info.etag, lastModified: info.lastModified, header: call.header) {
        case .proceed: break
        case .notModified: return .empty(.notModified, headers.filter { $0.0 != "Content-Type" })
        case .preconditionFailed:
            throw S3Error("PreconditionFailed", .preconditionFailed, "At least one of the pre-conditions you specified did not hold")
        }

        let path = store.bodyPath(info)
        if call.head.method == .HEAD {
            return .empty(.ok, headers + [("Content-Length", String(info.size))])
        }
        guard let reply = HTTPReply.file(ByteRange(header: call.header("range"), size: info.size), size: info.size, headers: headers, path: path)
        else {
            throw S3Error("InvalidRange", .rangeNotSatisfiable, "The requested range is not satisfiable",
                          details: [("ActualObjectSize", String(info.size))])
        }
        return reply
    }

    func deleteObjects(_ call: S3Call, bucket: String, connection: S3Connection) async throws -> S3Reply {
        let document = try await readDocument(call, connection: connection)
        let (keys, versions, quiet) = try S3RequestBody.objectsToDelete(document)
        try await requireBucket(bucket)
        var xml = S3XMLWriter()
        xml.start("DeleteResult", namespace: S3XMLWriter.namespace)
        // One trip to the thread pool for the whole list. An object's one version is
        // "null"; another id names nothing.
        let outcomes = try await onStore { store in
            zip(keys, versions).map { key, version -> (String, String?, (code: String, message: String)?) in
                if let version, version != "null" { return (key, version, ("NoSuchVersion", "The specified version does not exist.")) }
                do throws(StoreError) {
                    try store.deleteObject(bucket: bucket, key: key)
                    return (key, version, nil)
                } catch {
                    return (key, version, (error.code.rawValue, error.message))
                }
            }
        }
        for (key, version, failure) in outcomes {
            if let failure {
                xml.element("Error") {
                    $0.element("Key", key)
                    if let version { $0.element("VersionId", version) }
                    $0.element("Code", failure.code)
                    $0.element("Message", failure.message)
                }
            } else if !quiet {
                xml.element("Deleted") {
                    $0.element("Key", key)
                    if let version { $0.element("VersionId", version) }
                }
            }
        }
        xml.end()
        return .data(.ok, [], xml.text)
    }

    // MARK: Helpers

    /// Runs a store call on the thread pool: the store blocks (SQLite, file I/O), and
    /// Swift's cooperative threads, as few as the cores, must never wait on a disk.
    func onStore<T: Sendable>(_ body: @escaping @Sendable (LocalObjectStore) throws -> T) async throws -> T {
        let store = self.store
        return try await blocking { try body(store) }
    }

    func requireBucket(_ bucket: String) async throws {
        guard try await onStore({ try $0.bucketExists(bucket) }) else {
            throw S3Error("NoSuchBucket", .notFound, "The specified bucket does not exist")
        }
    }

    func owner(_ xml: inout S3XMLWriter) {
        xml.element("Owner") {
            $0.element("ID", Self.owner.id)
            $0.element("DisplayName", Self.owner.name)
        }
    }

    func aclDocument(_ acl: ObjectACL) -> String {
        var xml = S3XMLWriter()
        xml.start("AccessControlPolicy", namespace: S3XMLWriter.namespace)
        owner(&xml)
        xml.start("AccessControlList")
        xml.raw("<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>\(Self.owner.id)</ID><DisplayName>\(Self.owner.name)</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>")
        if acl == .publicRead {
            xml.raw("<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"Group\"><URI>\(S3RequestBody.allUsers)</URI></Grantee><Permission>READ</Permission></Grant>")
        }
        xml.end()
        xml.end()
        return xml.text
    }

    static func cannedACL(_ text: String) throws -> ObjectACL {
        switch text.lowercased() {
        case "private", "bucket-owner-full-control", "bucket-owner-read": return .private
        case "public-read": return .publicRead
        default:
            throw S3Error.invalidArgument("Sluice supports the canned ACLs private and public-read, not '\(text)'.")
        }
    }
}
