import Crypto
import Dispatch
import Foundation
import NIOHTTP1
import SluiceMedia
import Synchronization

/// Where the external backend keeps objects.
public struct ExternalStoreConfiguration: Sendable {
    /// `http(s)://HOST[:PORT]` of the S3-compatible service.
    public var endpoint: String
    public var region = "us-east-1"
    /// The one external bucket that holds every Sluice bucket.
    public var bucket: String
    /// Folder inside the external bucket, so that several deployments can share it.
    public var prefix = ""
    public var accessKey: String
    public var secretKey: String
    /// Files larger than this are uploaded in parts (S3 takes at most 5 GB in one PUT).
    public var multipartThreshold: Int64 = 64 << 20
    public var partSize: Int64 = 16 << 20

    public init(endpoint: String, bucket: String, accessKey: String, secretKey: String) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.accessKey = accessKey
        self.secretKey = secretKey
    }
}

/// The bucket store kept on an external S3-compatible service: how a deployment grows past
/// one machine. Every Sluice bucket is a folder of one external bucket —
/// `PREFIX/BUCKET/KEY` — marked by an empty `PREFIX/BUCKET/.sluice-bucket` object (so that
/// an empty bucket exists too), and only that one bucket (and no right to create buckets)
/// is needed. ACLs are the service's own canned
/// ACLs; user metadata travels as `x-amz-meta-*`.
public final class RemoteObjectStore: ObjectStore {
    public let configuration: ExternalStoreConfiguration
    let client: S3Client
    /// `PREFIX/` or "".
    let root: String

    public init(configuration: ExternalStoreConfiguration) throws(StoreError) {
        self.configuration = configuration
        client = S3Client(endpoint: try S3Client.Endpoint(configuration.endpoint), region: configuration.region,
                          accessKey: configuration.accessKey, secretKey: configuration.secretKey)
        let trimmed = configuration.prefix.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        root = trimmed.isEmpty ? "" : trimmed + "/"
        guard ObjectKey.isValidBucketName(configuration.bucket) else {
            throw StoreError(.invalidConfiguration, "'\(configuration.bucket)' is not a valid external bucket name")
        }
    }

    public var location: String {
        "bucket \(configuration.bucket)\(root.isEmpty ? "" : "/" + root) at \(client.endpoint.base)"
    }

    // MARK: Addressing

    func bucketFolder(_ bucket: String) -> String { root + bucket + "/" }

    /// Not `BUCKET/`: some S3-compatible services (Sluice's own among them) refuse keys
    /// that end in a slash.
    func marker(_ bucket: String) -> String { bucketFolder(bucket) + ".sluice-bucket" }

    func path(_ fullKey: String) -> String { "/" + configuration.bucket + "/" + fullKey }

    var bucketPath: String { "/" + configuration.bucket }

    /// Runs async work to completion on the calling thread. Never call it from Swift's
    /// cooperative pool: it blocks the thread until the request is done.
    func blocking<T: Sendable>(_ operation: @escaping @Sendable () async throws(StoreError) -> T) throws(StoreError) -> T {
        let outcome = Mutex<Result<T, StoreError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let result: Result<T, StoreError>
            do throws(StoreError) {
                result = .success(try await operation())
            } catch {
                result = .failure(error)
            }
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        return try outcome.withLock { $0! }.get()
    }

    // MARK: The external bucket itself

    /// Checks that the external bucket answers to our keys.
    public func checkReachable() throws(StoreError) {
        try blocking { [self] () async throws(StoreError) in
            _ = try await client.send(.HEAD, path: bucketPath, what: "external bucket \(configuration.bucket)")
        }
    }

    /// Creates the external bucket; one that exists already is fine.
    public func createExternalBucket() throws(StoreError) {
        try blocking { [self] () async throws(StoreError) in
            do throws(StoreError) {
                _ = try await client.send(.PUT, path: bucketPath, what: "create external bucket \(configuration.bucket)")
            } catch where error.message.contains("BucketAlreadyOwnedByYou") {
            }
        }
    }

    // MARK: Buckets

    public func createBucket(_ name: String) throws(StoreError) {
        try Self.checkBucketName(name)
        if try bucketExists(name) { throw StoreError(.bucketAlreadyOwnedByYou, "bucket \(name) already exists") }
        try blocking { [self] () async throws(StoreError) in
            _ = try await client.send(.PUT, path: path(marker(name)), body: .bytes(Data()), what: "create bucket \(name)")
        }
    }

    public func bucketExists(_ name: String) throws(StoreError) -> Bool {
        guard ObjectKey.isValidBucketName(name) else { return false }
        return try blocking { [self] () async throws(StoreError) in try await hasFolder(name) }
    }

    /// A bucket exists while anything (its marker, at least) is in its folder.
    func hasFolder(_ bucket: String) async throws(StoreError) -> Bool {
        try await listPage(prefix: bucketFolder(bucket), delimiter: nil, token: nil, maxKeys: 1).keys.isEmpty == false
    }

    public func listBuckets() throws(StoreError) -> [BucketInfo] {
        try blocking { [self] () async throws(StoreError) in
            var names: [String] = []
            var token: String?
            repeat {
                let page = try await listPage(prefix: root, delimiter: "/", token: token, maxKeys: 1000)
                names += page.commonPrefixes.map { String($0.dropFirst(root.count).dropLast()) }.filter(ObjectKey.isValidBucketName)
                token = page.nextToken
            } while token != nil
            var buckets: [BucketInfo] = []
            for name in names {
                // The marker's date is the bucket's; a folder made by another tool has none.
                let marker = try? await client.send(.HEAD, path: path(marker(name)), what: "bucket \(name)")
                let created = marker?.header("last-modified").flatMap(S3Date.parseHTTP) ?? Date(timeIntervalSince1970: 0)
                buckets.append(BucketInfo(name: name, created: created))
            }
            return buckets
        }
    }

    public func deleteBucket(_ name: String) throws(StoreError) {
        try blocking { [self] () async throws(StoreError) in
            let page = try await listPage(prefix: bucketFolder(name), delimiter: nil, token: nil, maxKeys: 2)
            if page.keys.isEmpty { throw StoreError(.noSuchBucket, "no bucket named \(name)") }
            if page.keys.contains(where: { $0.key != marker(name) }) {
                throw StoreError(.bucketNotEmpty, "bucket \(name) is not empty")
            }
            _ = try await client.send(.DELETE, path: path(marker(name)), what: "delete bucket \(name)")
        }
    }

    // MARK: Objects

    @discardableResult
    public func putObject(bucket: String, key: String, file: String, contentType: String?, acl: ObjectACL,
                          metadata: [String: String]) throws(StoreError) -> ObjectInfo {
        try Self.checkKey(key)
        guard try bucketExists(bucket) else { throw StoreError(.noSuchBucket, "no bucket named \(bucket)") }
        let digests = try Self.digests(ofFile: file, partSize: configuration.partSize)
        let type = contentType ?? LocalObjectStore.contentType(for: key)
        var headers: [(name: String, value: String)] = [("content-type", type), ("x-amz-acl", acl.rawValue)]
        for (name, value) in metadata.sorted(by: { $0.key < $1.key }) {
            headers.append(("x-amz-meta-" + name.lowercased(), value))
        }
        let fullKey = bucketFolder(bucket) + key
        let what = "put \(bucket)/\(key)"
        let configuration = self.configuration
        let etag: String = try blocking { [self, headers] () async throws(StoreError) in
            if digests.size <= configuration.multipartThreshold {
                _ = try await client.send(.PUT, path: path(fullKey), headers: headers + [("content-md5", digests.whole.base64EncodedString())],
                                          body: .file(path: file, offset: 0, length: digests.size), what: what)
                return SignatureV4.hex(digests.whole)
            }
            return try await putInParts(fullKey, file: file, digests: digests, headers: headers, what: what)
        }
        return ObjectInfo(bucket: bucket, key: key, size: digests.size, etag: etag, contentType: type, acl: acl,
                          metadata: metadata, lastModified: Date())
    }

    /// Multipart upload, one part at a time; any failure aborts it so no parts linger.
    private func putInParts(_ fullKey: String, file: String, digests: FileDigests, headers: [(name: String, value: String)],
                            what: String) async throws(StoreError) -> String {
        let created = try await client.send(.POST, path: path(fullKey), query: [("uploads", "")], headers: headers, what: what)
        guard let uploadID = S3XMLElement.parse(created.body)?.value("UploadId") else {
            throw StoreError(.internalError, "\(what): the service started a multipart upload without an UploadId")
        }
        do throws(StoreError) {
            var completion = "<CompleteMultipartUpload>"
            for (index, digest) in digests.parts.enumerated() {
                let offset = Int64(index) * configuration.partSize
                let length = min(configuration.partSize, digests.size - offset)
                let response = try await client.send(
                    .PUT, path: path(fullKey), query: [("partNumber", "\(index + 1)"), ("uploadId", uploadID)],
                    headers: [("content-md5", digest.base64EncodedString())], body: .file(path: file, offset: offset, length: length),
                    what: "\(what), part \(index + 1)")
                let etag = response.header("etag") ?? "\"\(SignatureV4.hex(digest))\""
                completion += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(S3XMLWriter.escape(etag))</ETag></Part>"
            }
            completion += "</CompleteMultipartUpload>"
            let completed = try await client.send(.POST, path: path(fullKey), query: [("uploadId", uploadID)],
                                                  headers: [("content-type", "application/xml")], body: .bytes(Data(completion.utf8)), what: what)
            // S3 may answer 200 and still carry an error document.
            if let document = S3XMLElement.parse(completed.body), document.name == "Error" {
                throw S3Client.failure(status: 500, body: completed.body, what: what)
            }
        } catch {
            _ = try? await client.send(.DELETE, path: path(fullKey), query: [("uploadId", uploadID)], what: "\(what): abort")
            throw error
        }
        var combined = Insecure.MD5()
        for part in digests.parts { combined.update(data: part) }
        return SignatureV4.hex(combined.finalize()) + "-\(digests.parts.count)"
    }

    public func headObject(bucket: String, key: String) throws(StoreError) -> ObjectInfo {
        try Self.checkKey(key)
        return try blocking { [self] () async throws(StoreError) in try await head(bucket: bucket, key: key) }
    }

    func head(bucket: String, key: String) async throws(StoreError) -> ObjectInfo {
        let fullKey = bucketFolder(bucket) + key
        let response: S3Client.Response
        do throws(StoreError) {
            response = try await client.send(.HEAD, path: path(fullKey), what: "\(bucket)/\(key)")
        } catch where error.code == .noSuchKey {
            if try await !hasFolder(bucket) { throw StoreError(.noSuchBucket, "no bucket named \(bucket)") }
            throw StoreError(.noSuchKey, "no object \(key) in \(bucket)")
        }
        var metadata: [String: String] = [:]
        for header in response.headers where header.name.lowercased().hasPrefix("x-amz-meta-") {
            metadata[String(header.name.lowercased().dropFirst("x-amz-meta-".count))] = header.value
        }
        return ObjectInfo(
            bucket: bucket, key: key, size: response.header("content-length").flatMap { Int64($0) } ?? 0,
            etag: Self.unquoted(response.header("etag") ?? ""),
            contentType: response.header("content-type") ?? LocalObjectStore.contentType(for: key),
            acl: try await acl(fullKey, what: "\(bucket)/\(key)"), metadata: metadata,
            lastModified: response.header("last-modified").flatMap(S3Date.parseHTTP) ?? Date(timeIntervalSince1970: 0))
    }

    /// Public-read when the AllUsers group may read the object.
    func acl(_ fullKey: String, what: String) async throws(StoreError) -> ObjectACL {
        let response = try await client.send(.GET, path: path(fullKey), query: [("acl", "")], what: "ACL of \(what)")
        guard let document = S3XMLElement.parse(response.body) else {
            throw StoreError(.internalError, "ACL of \(what): the service answered something that is not XML")
        }
        let everyoneReads = document.descendants("Grant").contains { grant in
            grant.descendants("URI").contains { $0.text.trimmingCharacters(in: .whitespaces) == "http://acs.amazonaws.com/groups/global/AllUsers" }
                && ["READ", "FULL_CONTROL"].contains(grant.value("Permission") ?? "")
        }
        return everyoneReads ? .publicRead : .private
    }

    @discardableResult
    public func getObject(bucket: String, key: String, toFile file: String) throws(StoreError) -> ObjectInfo {
        try Self.checkKey(key)
        return try blocking { [self] () async throws(StoreError) in
            let info = try await head(bucket: bucket, key: key)
            // Written beside the target and renamed: a reader never sees half a file.
            let partial = file + ".part-" + UUID().uuidString.prefix(8)
            do throws(StoreError) {
                _ = try await client.send(.GET, path: path(bucketFolder(bucket) + key), headers: [("if-match", "\"\(info.etag)\"")],
                                          download: partial, what: "get \(bucket)/\(key)")
            } catch {
                unlink(partial)
                throw error
            }
            guard rename(partial, file) == 0 else {
                let error = StoreError.fromErrno("cannot write \(file)")
                unlink(partial)
                throw error
            }
            return info
        }
    }

    public func deleteObject(bucket: String, key: String) throws(StoreError) {
        try Self.checkKey(key)
        try blocking { [self] () async throws(StoreError) in
            _ = try await client.send(.DELETE, path: path(bucketFolder(bucket) + key), what: "delete \(bucket)/\(key)")
        }
    }

    public func setACL(bucket: String, key: String, acl: ObjectACL) throws(StoreError) {
        try Self.checkKey(key)
        try blocking { [self] () async throws(StoreError) in
            _ = try await client.send(.PUT, path: path(bucketFolder(bucket) + key), query: [("acl", "")],
                                      headers: [("x-amz-acl", acl.rawValue)], body: .bytes(Data()), what: "set the ACL of \(bucket)/\(key)")
        }
    }

    /// Listings carry size, ETag and date from the service and the ACL from one ACL request
    /// per object (a few at a time); content type is guessed from the key and metadata is
    /// left out: `headObject` has both.
    public func listObjects(bucket: String, prefix: String, delimiter: String?, continuationToken: String?,
                            maxKeys: Int) throws(StoreError) -> ObjectListing {
        try blocking { [self] () async throws(StoreError) in
            let folder = bucketFolder(bucket)
            let page = try await listPage(prefix: folder + prefix, delimiter: delimiter, token: continuationToken, maxKeys: max(1, min(maxKeys, 1000)))
            let entries = page.keys.filter { $0.key != marker(bucket) }
            if entries.isEmpty, page.commonPrefixes.isEmpty, continuationToken == nil, try await !hasFolder(bucket) {
                throw StoreError(.noSuchBucket, "no bucket named \(bucket)")
            }
            let acls = try await aclsOf(entries.map(\.key), what: bucket)
            let objects = entries.map { entry in
                let key = String(entry.key.dropFirst(folder.count))
                return ObjectInfo(bucket: bucket, key: key, size: entry.size, etag: entry.etag, contentType: LocalObjectStore.contentType(for: key),
                                  acl: acls[entry.key] ?? .private, metadata: [:], lastModified: entry.lastModified)
            }
            return ObjectListing(objects: objects, commonPrefixes: page.commonPrefixes.map { String($0.dropFirst(folder.count)) },
                                 isTruncated: page.nextToken != nil, nextContinuationToken: page.nextToken)
        }
    }

    public func allKeys(bucket: String, prefix: String) throws(StoreError) -> [String] {
        try blocking { [self] () async throws(StoreError) in
            let folder = bucketFolder(bucket)
            var keys: [String] = []
            var token: String?
            repeat {
                let page = try await listPage(prefix: folder + prefix, delimiter: nil, token: token, maxKeys: 1000)
                keys += page.keys.filter { $0.key != marker(bucket) }.map { String($0.key.dropFirst(folder.count)) }
                token = page.nextToken
            } while token != nil
            return keys
        }
    }

    private func aclsOf(_ fullKeys: [String], what: String) async throws(StoreError) -> [String: ObjectACL] {
        var result: [String: ObjectACL] = [:]
        // Eight requests in flight: quick for a page of an asset, gentle on the service.
        for batch in stride(from: 0, to: fullKeys.count, by: 8).map({ Array(fullKeys[$0..<min($0 + 8, fullKeys.count)]) }) {
            do {
                try await withThrowingTaskGroup(of: (String, ObjectACL).self) { group in
                    for key in batch {
                        group.addTask { [self] in (key, try await acl(key, what: what + "/" + key)) }
                    }
                    for try await (key, acl) in group { result[key] = acl }
                }
            } catch let error as StoreError {
                throw error
            } catch {
                throw StoreError(.internalError, "\(error)")
            }
        }
        return result
    }

    // MARK: ListObjectsV2

    struct ListedKey {
        var key: String
        var size: Int64
        var etag: String
        var lastModified: Date
    }

    struct ListPage {
        var keys: [ListedKey]
        var commonPrefixes: [String]
        var nextToken: String?
    }

    func listPage(prefix: String, delimiter: String?, token: String?, maxKeys: Int) async throws(StoreError) -> ListPage {
        var query: [(name: String, value: String)] = [("list-type", "2"), ("prefix", prefix), ("max-keys", "\(maxKeys)")]
        if let delimiter, !delimiter.isEmpty { query.append(("delimiter", delimiter)) }
        if let token { query.append(("continuation-token", token)) }
        let response = try await client.send(.GET, path: bucketPath, query: query, what: "list \(configuration.bucket)/\(prefix)")
        guard let document = S3XMLElement.parse(response.body) else {
            throw StoreError(.internalError, "list \(prefix): the service answered something that is not XML")
        }
        let keys = document.all("Contents").map { entry in
            ListedKey(key: entry.value("Key") ?? "", size: entry.value("Size").flatMap { Int64($0) } ?? 0,
                      etag: Self.unquoted(entry.value("ETag") ?? ""),
                      lastModified: entry.value("LastModified").flatMap(S3Date.parseISO8601) ?? Date(timeIntervalSince1970: 0))
        }
        let truncated = document.value("IsTruncated") == "true"
        return ListPage(keys: keys, commonPrefixes: document.all("CommonPrefixes").compactMap { $0.value("Prefix") },
                        nextToken: truncated ? document.value("NextContinuationToken") : nil)
    }

    static func unquoted(_ etag: String) -> String {
        etag.count >= 2 && etag.hasPrefix("\"") && etag.hasSuffix("\"") ? String(etag.dropFirst().dropLast()) : etag
    }

    // MARK: Digests

    struct FileDigests: Sendable {
        var size: Int64
        var whole: Data
        /// One MD5 per part of `partSize`.
        var parts: [Data]
    }

    /// MD5 of the whole file and of each part, in one read: S3 checks each against
    /// Content-MD5, so a body damaged on the way is refused rather than stored.
    static func digests(ofFile path: String, partSize: Int64) throws(StoreError) -> FileDigests {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw StoreError(.internalError, "cannot read \(path)") }
        defer { try? handle.close() }
        var whole = Insecure.MD5()
        var part = Insecure.MD5()
        var parts: [Data] = []
        var size: Int64 = 0
        var inPart: Int64 = 0
        while true {
            let chunk: Data
            do {
                guard let read = try handle.read(upToCount: Int(min(1 << 20, partSize - inPart))), !read.isEmpty else { break }
                chunk = read
            } catch {
                throw StoreError(.internalError, "cannot read \(path): \(error.localizedDescription)")
            }
            whole.update(data: chunk)
            part.update(data: chunk)
            size += Int64(chunk.count)
            inPart += Int64(chunk.count)
            if inPart == partSize {
                parts.append(Data(part.finalize()))
                part = Insecure.MD5()
                inPart = 0
            }
        }
        if inPart > 0 || parts.isEmpty { parts.append(Data(part.finalize())) }
        return FileDigests(size: size, whole: Data(whole.finalize()), parts: parts)
    }
}
