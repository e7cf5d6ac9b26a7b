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
        switch call.operation {
        case .listBuckets:
            return try await listBuckets(call)

        case .createBucket(let bucket):
            let user = try signer(call)
            _ = try await readDocument(call, connection: connection)
            let access = try newAccess(call, owner: user.id)
            if let existing = try await onStore({ try $0.bucket(bucket) }) {
                // Another's bucket, or one's own asked for with another ACL, as Ceph RGW answers.
                guard call.users.resolved(existing.access) == access else {
                    throw S3Error("BucketAlreadyExists", .conflict,
                                  "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.")
                }
                // us-east-1 answers 200 for a bucket one already owns; other regions 409.
                guard configuration.region == "us-east-1" else {
                    throw S3Error("BucketAlreadyOwnedByYou", .conflict, "Your previous request to create the named bucket succeeded and you already own it.")
                }
                return .empty(.ok, [("Location", "/" + bucket)])
            }
            try await onStore { try $0.createBucket(bucket, access: access) }
            return .empty(.ok, [("Location", "/" + bucket)])

        case .deleteBucket(let bucket):
            try await authorizedBucket(call, bucket, nil)
            try await onStore { try $0.deleteBucket(bucket) }
            return .empty(.noContent, [])

        case .headBucket(let bucket):
            try await authorizedBucket(call, bucket, .read)
            return .empty(.ok, [("x-amz-bucket-region", configuration.region)])

        case .getBucketLocation(let bucket):
            try await authorizedBucket(call, bucket, nil)
            let region = configuration.region == "us-east-1" ? "" : S3XMLWriter.escape(configuration.region)
            return .data(.ok, [], "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"\(S3XMLWriter.namespace)\">\(region)</LocationConstraint>")

        case .getBucketACL(let bucket):
            let info = try await authorizedBucket(call, bucket, .readACP)
            return .data(.ok, [], S3Grants.document(info.access, users: call.users))

        case .putBucketACL(let bucket):
            return try await putBucketACL(call, bucket: bucket, connection: connection)

        case .listObjects(let bucket, let version2):
            try await authorizedBucket(call, bucket, .read)
            return try await listObjects(call, bucket: bucket, version2: version2)

        case .listObjectVersions(let bucket):
            try await authorizedBucket(call, bucket, .read)
            return try await listObjectVersions(call, bucket: bucket)

        case .getBucketVersioning(let bucket):
            try await authorizedBucket(call, bucket, nil)
            var xml = S3XMLWriter()
            xml.start("VersioningConfiguration", namespace: S3XMLWriter.namespace)
            xml.end()
            return .data(.ok, [], xml.text)

        case .listMultipartUploads(let bucket):
            try await authorizedBucket(call, bucket, .read)
            var xml = S3XMLWriter()
            xml.start("ListMultipartUploadsResult", namespace: S3XMLWriter.namespace)
            xml.element("Bucket", bucket)
            xml.element("KeyMarker", "")
            xml.element("UploadIdMarker", "")
            xml.element("MaxUploads", "1000")
            xml.element("IsTruncated", "false")
            for upload in try await onStore({ try $0.listMultipartUploads(bucket: bucket) }) {
                let initiator = call.users.resolvedID(upload.access.owner)
                xml.element("Upload") {
                    $0.element("Key", upload.key)
                    $0.element("UploadId", upload.id)
                    $0.element("Initiator") {
                        $0.element("ID", initiator)
                        $0.element("DisplayName", call.users.displayName(initiator))
                    }
                    owner(&$0, initiator, users: call.users)
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
            return try getObject(call, info: try await authorizedObject(call, bucket: bucket, key: key, .read))

        case .deleteObject(let bucket, let key):
            try await authorizedBucket(call, bucket, .write)
            let condition = try Self.deleteCondition(call)
            try await onStore { try $0.deleteObject(bucket: bucket, key: key, if: condition) }
            return .empty(.noContent, [])

        case .getObjectACL(let bucket, let key):
            let info = try await authorizedObject(call, bucket: bucket, key: key, .readACP)
            return .data(.ok, [], S3Grants.document(info.access, users: call.users))

        case .putObjectACL(let bucket, let key):
            return try await putObjectACL(call, bucket: bucket, key: key, connection: connection)

        case .createMultipartUpload(let bucket, let key):
            let bucketInfo = try await authorizedBucket(call, bucket, .write)
            let access = try newAccess(call, owner: call.user?.id ?? bucketInfo.access.owner, bucketOwner: bucketInfo.access.owner)
            let (contentType, metadata) = (call.header("content-type"), Self.userMetadata(call.head.headers))
            let headers = Self.storedHeaders(call.head.headers)
            let id = try await onStore {
                try $0.createMultipartUpload(bucket: bucket, key: key, contentType: contentType, access: access, metadata: metadata, headers: headers)
            }
            var xml = S3XMLWriter()
            xml.start("InitiateMultipartUploadResult", namespace: S3XMLWriter.namespace)
            xml.element("Bucket", bucket)
            xml.element("Key", key)
            xml.element("UploadId", id)
            xml.end()
            return .data(.ok, [], xml.text)

        case .uploadPart(let bucket, let key, let uploadID, let number):
            try await authorizedBucket(call, bucket, .write)
            let upload = try await onStore { Handover(value: try $0.beginPart(uploadID: uploadID, bucket: bucket, key: key)) }.value
            let checksum = try await receive(call, into: upload, connection: connection)
            let handover = Handover(value: upload)
            let store = self.store
            let part = try await blocking { try store.commitPart(handover.value, uploadID: uploadID, number: number) }
            var headers = [("ETag", "\"\(part.etag)\"")]
            if let checksum { headers.append((checksum.0.headerName, checksum.1)) }
            return .empty(.ok, headers)

        case .completeMultipartUpload(let bucket, let key, let uploadID):
            try await authorizedBucket(call, bucket, .write)
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
            try await authorizedBucket(call, bucket, .write)
            try await onStore { try $0.abortMultipartUpload(uploadID: uploadID, bucket: bucket, key: key) }
            return .empty(.noContent, [])

        case .listParts(let bucket, let key, let uploadID):
            try await authorizedBucket(call, bucket, .write)
            return try await listParts(bucket: bucket, key: key, uploadID: uploadID)

        case .postObject(let bucket):
            return try await postObject(call, bucket: bucket, connection: connection)

        case .invalid, .invalidArgument, .notImplemented:
            throw S3Error("NotImplemented", .notImplemented, "not implemented")
        }
    }

    /// A user's own buckets, as S3 lists them (none for an unsigned request), by name,
    /// in pages of `max-buckets` with an opaque continuation token.
    func listBuckets(_ call: S3Call) async throws -> S3Reply {
        let prefix = call.parameter("prefix") ?? ""
        let pageSize = try call.parameter("max-buckets").map { text -> Int in
            guard let value = Int(text), (1...10_000).contains(value) else { throw S3Error.invalidArgument("max-buckets must be 1 to 10000") }
            return value
        } ?? 10_000
        let after = try call.parameter("continuation-token").map { token -> String in
            guard let data = Data(base64Encoded: token) else { throw S3Error.invalidArgument("The continuation token provided is incorrect") }
            return String(decoding: data, as: UTF8.self)
        }
        let all = call.user == nil ? [] : try await onStore { try $0.listBuckets() }
        let owned = all.filter { call.users.resolved($0.access).owner == call.user?.id && $0.name.hasPrefix(prefix) && $0.name > (after ?? "") }
        let page = owned.prefix(pageSize)
        var xml = S3XMLWriter()
        xml.start("ListAllMyBucketsResult", namespace: S3XMLWriter.namespace)
        if let user = call.user { owner(&xml, user.id, users: call.users) }
        xml.start("Buckets")
        for bucket in page {
            xml.element("Bucket") {
                $0.element("Name", bucket.name)
                $0.element("CreationDate", S3Date.iso8601(bucket.created))
            }
        }
        xml.end()
        if owned.count > page.count, let last = page.last { xml.element("ContinuationToken", Data(last.name.utf8).base64EncodedString()) }
        if !prefix.isEmpty { xml.element("Prefix", prefix) }
        xml.end()
        return .data(.ok, [], xml.text)
    }

    func listParts(bucket: String, key: String, uploadID: String) async throws -> S3Reply {
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
    }

    // MARK: Objects

    func putObject(_ call: S3Call, bucket: String, key: String, connection: S3Connection) async throws -> S3Reply {
        let bucketInfo = try await authorizedBucket(call, bucket, .write)
        // An unsigned write (to a public-read-write bucket) belongs to the bucket's owner.
        let access = try newAccess(call, owner: call.user?.id ?? bucketInfo.access.owner, bucketOwner: bucketInfo.access.owner)
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
            try handover.value.commit(contentType: contentType, access: access, metadata: metadata, headers: stored, condition: condition)
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
        let original = try await authorizedObject(call, bucket: sourceBucket, key: sourceKey, .read)
        let bucketInfo = try await authorizedBucket(call, bucket, .write)
        if let match = call.header("x-amz-copy-source-if-match"), Self.unquote(match) != original.etag {
            throw S3Error("PreconditionFailed", .preconditionFailed, "At least one of the pre-conditions you specified did not hold")
        }
        if let noneMatch = call.header("x-amz-copy-source-if-none-match"), Self.unquote(noneMatch) == original.etag {
            throw S3Error("PreconditionFailed", .preconditionFailed, "At least one of the pre-conditions you specified did not hold")
        }
        let replace = call.header("x-amz-metadata-directive")?.uppercased() == "REPLACE"
        let owner = call.user?.id ?? bucketInfo.access.owner
        let requested = try S3Grants.fromHeaders(call.header, owner: owner, bucketOwner: bucketInfo.access.owner, users: call.users)
        if sourceBucket == bucket && sourceKey == key && !replace && requested == nil {
            throw S3Error("InvalidRequest", .badRequest,
                          "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata.")
        }
        let access = requested ?? AccessPolicy(canned: .private, owner: owner)
        let replacing = replace
            ? (contentType: call.header("content-type"), metadata: Self.userMetadata(call.head.headers), headers: Self.storedHeaders(call.head.headers))
            : nil
        let store = self.store
        let info = try await blocking {
            try store.copyObject(from: (sourceBucket, sourceKey), to: bucket, key: key, access: access, replacing: replacing)
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
        var range = ByteRange(header: call.header("range"), size: info.size)
        if let number = call.parameter("partNumber") {
            (range, headers) = try Self.part(number, of: info, call: call, headers: headers)
        }
        if call.head.method == .HEAD {
            if case .partial(let part) = range {
                return .empty(.partialContent, headers + [("Content-Length", String(part.count)),
                                                          ("Content-Range", "bytes \(part.lowerBound)-\(part.upperBound)/\(info.size)")])
            }
            return .empty(.ok, headers + [("Content-Length", String(info.size))])
        }
        guard let reply = HTTPReply.file(range, size: info.size, headers: headers, path: path)
        else {
            throw S3Error("InvalidRange", .rangeNotSatisfiable, "The requested range is not satisfiable",
                          details: [("ActualObjectSize", String(info.size))])
        }
        return reply
    }

    /// `?partNumber=N` on GET or HEAD: the bytes of part N of a multipart object, with the
    /// number of parts; an object put whole is its one part.
    static func part(_ text: String, of info: ObjectInfo, call: S3Call, headers: [(String, String)]) throws -> (ByteRange, [(String, String)]) {
        guard let number = Int(text), (1...S3RequestBody.maximumParts).contains(number) else {
            throw S3Error.invalidArgument("Part number must be an integer between 1 and \(S3RequestBody.maximumParts), inclusive")
        }
        guard call.header("range") == nil else {
            throw S3Error("InvalidRequest", .badRequest, "Cannot specify both Range header and partNumber query parameter")
        }
        let sizes = info.partSizes ?? [info.size]
        guard number <= sizes.count else { throw S3Error("InvalidPart", .badRequest, "The requested partnumber is not satisfiable") }
        let start = sizes.prefix(number - 1).reduce(0, +)
        var headers = headers
        if let parts = info.partSizes { headers.append(("x-amz-mp-parts-count", String(parts.count))) }
        // An empty part (an empty object put whole) has no byte to name: the whole, empty body.
        guard sizes[number - 1] > 0 else { return (.whole, headers) }
        return (.partial(start...(start + sizes[number - 1] - 1)), headers)
    }

    func deleteObjects(_ call: S3Call, bucket: String, connection: S3Connection) async throws -> S3Reply {
        let document = try await readDocument(call, connection: connection)
        let (keys, versions, conditions, quiet) = try S3RequestBody.objectsToDelete(document)
        try await authorizedBucket(call, bucket, .write)
        var xml = S3XMLWriter()
        xml.start("DeleteResult", namespace: S3XMLWriter.namespace)
        // One trip to the thread pool for the whole list. An object's one version is
        // "null"; another id names nothing.
        let outcomes = try await onStore { store in
            keys.indices.map { index -> (String, String?, (code: String, message: String)?) in
                let (key, version) = (keys[index], versions[index])
                if let version, version != "null" { return (key, version, ("NoSuchVersion", "The specified version does not exist.")) }
                do throws(StoreError) {
                    try store.deleteObject(bucket: bucket, key: key, if: conditions[index])
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
}
