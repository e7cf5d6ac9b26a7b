import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import SluiceMedia
@testable import SluiceStore
import SluiceTestSupport
import XCTest

/// The external backend against `moto_server`, an S3 we did not write, and against
/// Sluice's own S3 API, which checks every signature strictly.
final class RemoteObjectStoreTests: XCTestCase, @unchecked Sendable {
    var work = ""

    override func setUp() {
        work = NSTemporaryDirectory() + "sluice-remote-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: work)
    }

    func store(_ endpoint: String, bucket: String = "external", prefix: String = "", secret: String = MotoServer.secretKey,
               accessKey: String = MotoServer.accessKey) throws -> RemoteObjectStore {
        var configuration = ExternalStoreConfiguration(endpoint: endpoint, bucket: bucket, accessKey: accessKey, secretKey: secret)
        configuration.prefix = prefix
        configuration.multipartThreshold = 6 << 20
        configuration.partSize = 5 << 20
        return try RemoteObjectStore(configuration: configuration)
    }

    func file(_ name: String, bytes: Int, seed: UInt64) throws -> (String, Data) {
        var generator = SplitMix(seed: seed)
        let data = Data((0..<bytes).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
        let path = work + "/" + name
        try data.write(to: URL(fileURLWithPath: path))
        return (path, data)
    }

    func storeError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> StoreError? {
        do {
            try body()
            XCTFail("expected a StoreError", file: file, line: line)
            return nil
        } catch let error as StoreError {
            return error
        } catch {
            XCTFail("expected a StoreError, got \(error)", file: file, line: line)
            return nil
        }
    }

    func testBucketsObjectsACLsAndListingsOnMoto() async throws {
        try ExternalTool.require("curl")
        let moto = try MotoServer.start()
        defer { moto.stop() }
        let store = try store(moto.endpoint, prefix: "deploy-a")
        try store.createExternalBucket()
        try store.checkReachable()

        try store.createBucket("media")
        XCTAssertEqual(storeError { try store.createBucket("media") }?.code, .bucketAlreadyOwnedByYou)
        XCTAssertEqual(storeError { try store.createBucket("No_Such") }?.code, .invalidBucketName)
        XCTAssertEqual(try store.listBuckets().map(\.name), ["media"])
        XCTAssertTrue(try store.bucketExists("media"))
        XCTAssertFalse(try store.bucketExists("other"))

        let (path, data) = try file("clip.flv", bytes: 300_000, seed: 1)
        let put = try store.putObject(bucket: "media", key: "talks/clip.flv", file: path, contentType: nil, acl: .publicRead,
                                      metadata: ["speaker": "ada", "Event": "summit"])
        XCTAssertEqual(put.etag, Insecure.MD5.hash(data: data).map { String(format: "%02x", $0) }.joined())
        let head = try store.headObject(bucket: "media", key: "talks/clip.flv")
        XCTAssertEqual(head.size, Int64(data.count))
        XCTAssertEqual(head.etag, put.etag)
        XCTAssertEqual(head.contentType, "video/x-flv")
        XCTAssertEqual(head.acl, .publicRead)
        XCTAssertEqual(head.metadata, ["speaker": "ada", "event": "summit"])

        try store.getObject(bucket: "media", key: "talks/clip.flv", toFile: work + "/back.flv")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: work + "/back.flv")), data)

        try store.setACL(bucket: "media", key: "talks/clip.flv", acl: .private)
        XCTAssertEqual(try store.headObject(bucket: "media", key: "talks/clip.flv").acl, .private)

        // Anonymous reads follow the ACL the backend set. (curl, not Data(contentsOf:): reading
        // an http URL needs FoundationNetworking, which this test bundle does not link.)
        let url = moto.endpoint + "/external/deploy-a/media/talks/clip.flv"
        let denied = try await ExternalTool.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", url])
        XCTAssertEqual(denied.output, "403")
        try store.setACL(bucket: "media", key: "talks/clip.flv", acl: .publicRead)
        let anonymous = try await ExternalTool.run(["curl", "-sS", "-f", "-o", "-", url])
        XCTAssertEqual(anonymous.status, 0, anonymous.standardError)
        XCTAssertEqual(anonymous.standardOutput, data)

        let (small, _) = try file("small.txt", bytes: 10, seed: 2)
        for key in ["a/1.txt", "a/2.txt", "b/1.txt", "c.txt"] {
            try store.putObject(bucket: "media", key: key, file: small, acl: .private)
        }
        let top = try store.listObjects(bucket: "media", prefix: "", delimiter: "/", continuationToken: nil, maxKeys: 1000)
        XCTAssertEqual(top.commonPrefixes, ["a/", "b/", "talks/"])
        XCTAssertEqual(top.objects.map(\.key), ["c.txt"])
        XCTAssertEqual(top.objects.first?.acl, .private)
        var keys: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try store.listObjects(bucket: "media", prefix: "", delimiter: nil, continuationToken: token, maxKeys: 2)
            keys += page.objects.map(\.key)
            token = page.isTruncated ? page.nextContinuationToken : nil
            pages += 1
        } while token != nil && pages < 10
        XCTAssertEqual(keys, ["a/1.txt", "a/2.txt", "b/1.txt", "c.txt", "talks/clip.flv"])
        XCTAssertGreaterThanOrEqual(pages, 3)
        XCTAssertEqual(try store.allKeys(bucket: "media", prefix: "a/"), ["a/1.txt", "a/2.txt"])

        XCTAssertEqual(storeError { try store.deleteBucket("media") }?.code, .bucketNotEmpty)
        XCTAssertEqual(storeError { _ = try store.headObject(bucket: "media", key: "missing.flv") }?.code, .noSuchKey)
        XCTAssertEqual(storeError { _ = try store.headObject(bucket: "nobucket", key: "x.flv") }?.code, .noSuchBucket)
        XCTAssertEqual(storeError { _ = try store.listObjects(bucket: "nobucket") }?.code, .noSuchBucket)
        XCTAssertEqual(storeError { try store.putObject(bucket: "nobucket", key: "x", file: small) }?.code, .noSuchBucket)
        XCTAssertEqual(storeError { try store.putObject(bucket: "media", key: "../x", file: small) }?.code, .invalidKey)

        // Everything sits under the configured prefix: a second deployment sees none of it.
        let neighbour = try self.store(moto.endpoint, prefix: "deploy-b")
        XCTAssertEqual(try neighbour.listBuckets().map(\.name), [])
        let whole = try self.store(moto.endpoint)
        XCTAssertEqual(try whole.listBuckets().map(\.name), ["deploy-a"])

        for key in try store.allKeys(bucket: "media", prefix: "") { try store.deleteObject(bucket: "media", key: key) }
        try store.deleteBucket("media")
        XCTAssertEqual(try store.listBuckets().map(\.name), [])
        XCTAssertEqual(storeError { try store.deleteBucket("media") }?.code, .noSuchBucket)
    }

    /// Above the threshold a file goes up in parts; the ETag is S3's md5-of-part-md5s-N.
    func testMultipartUploadOnMoto() throws {
        let moto = try MotoServer.start()
        defer { moto.stop() }
        let store = try store(moto.endpoint)
        try store.createExternalBucket()
        try store.createBucket("media")
        let (path, data) = try file("big.flv", bytes: 12 << 20, seed: 3)
        let put = try store.putObject(bucket: "media", key: "big.flv", file: path, contentType: nil, acl: .publicRead, metadata: ["a": "b"])
        var combined = Insecure.MD5()
        for offset in stride(from: 0, to: data.count, by: 5 << 20) {
            combined.update(data: Data(Insecure.MD5.hash(data: data[offset..<min(offset + (5 << 20), data.count)])))
        }
        XCTAssertEqual(put.etag, combined.finalize().map { String(format: "%02x", $0) }.joined() + "-3")
        let head = try store.headObject(bucket: "media", key: "big.flv")
        XCTAssertEqual(head.etag, put.etag)
        XCTAssertEqual(head.size, Int64(data.count))
        XCTAssertEqual(head.acl, .publicRead)
        XCTAssertEqual(head.metadata, ["a": "b"])
        try store.getObject(bucket: "media", key: "big.flv", toFile: work + "/big.back")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: work + "/big.back")), data)
    }

    /// Sluice's own S3 API verifies Signature V4 byte for byte: the backend's signing of
    /// every request shape (queries, subresources, metadata, multipart) must pass it, and a
    /// wrong secret must be refused.
    func testSigningPassesAStrictVerifier() async throws {
        let folder = work + "/api"
        var configuration = S3APIConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        var logger = Logger(label: "sluice-remote-test")
        logger.logLevel = .warning
        let threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        let server = S3APIServer(store: try LocalObjectStore(dataFolder: folder), users: .administrator(accessKey: "SLUICEKEY", secretKey: "sluice/secret+key"),
                                 configuration: configuration,
                                 group: MultiThreadedEventLoopGroup.singleton, threadPool: threadPool, logger: logger)
        let port = try await server.start()
        let endpoint = "http://127.0.0.1:\(port)"
        let (path, data) = try file("clip with space+plus.flv", bytes: 13 << 20, seed: 4)
        let work = self.work
        try await Self.offThePool { [self] in
            let store = try store(endpoint, prefix: "edge", secret: "sluice/secret+key", accessKey: "SLUICEKEY")
            try store.createExternalBucket()
            try store.createBucket("media")
            try store.putObject(bucket: "media", key: "dir/clip with space+plus.flv", file: path, contentType: nil, acl: .publicRead,
                                metadata: ["title": "a b"])
            let head = try store.headObject(bucket: "media", key: "dir/clip with space+plus.flv")
            XCTAssertEqual(head.acl, .publicRead)
            XCTAssertTrue(head.etag.hasSuffix("-3"), head.etag)
            XCTAssertEqual(try store.listObjects(bucket: "media", prefix: "dir/", delimiter: "/", continuationToken: nil, maxKeys: 10).objects.map(\.key),
                           ["dir/clip with space+plus.flv"])
            try store.getObject(bucket: "media", key: "dir/clip with space+plus.flv", toFile: work + "/back")
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: work + "/back")), data)
            try store.setACL(bucket: "media", key: "dir/clip with space+plus.flv", acl: .private)
            XCTAssertEqual(try store.headObject(bucket: "media", key: "dir/clip with space+plus.flv").acl, .private)

            let wrong = try self.store(endpoint, prefix: "edge", secret: "not the secret", accessKey: "SLUICEKEY")
            let refused = self.storeError { _ = try wrong.headObject(bucket: "media", key: "dir/clip with space+plus.flv") }
            XCTAssertEqual(refused?.code, .accessDenied)
            let listing = self.storeError { _ = try wrong.listObjects(bucket: "media") }
            XCTAssertEqual(listing?.code, .accessDenied)
            XCTAssertTrue(listing?.message.contains("SignatureDoesNotMatch") == true, listing?.message ?? "")
        }
        // What the backend stored is what the embedded store holds under the prefix.
        let local = try LocalObjectStore(dataFolder: folder)
        XCTAssertEqual(try local.getObjectData(bucket: "external", key: "edge/media/dir/clip with space+plus.flv"), data)
        await server.shutdown()
        try await threadPool.shutdownGracefully()
    }

    /// A service that is down is a transient failure (jobs retry), said in plain words.
    func testUnreachableServiceIsTransient() throws {
        let store = try store("http://127.0.0.1:\(try PeerProcess.freePort())")
        let error = storeError { _ = try store.bucketExists("media") }
        XCTAssertEqual(error?.code, .serviceUnavailable)
        XCTAssertTrue(error?.isTransient == true)
        XCTAssertTrue(error?.message.contains("cannot reach") == true, error?.message ?? "")
        XCTAssertEqual(storeError { _ = try self.store("ftp://example.com") }?.code, .invalidConfiguration)
    }

    /// Plays from the external store go through a local cache that follows the object's
    /// ETag and ACL, and stays under its capacity.
    func testCachingMediaLibrary() throws {
        let moto = try MotoServer.start()
        defer { moto.stop() }
        let store = try store(moto.endpoint)
        try store.createExternalBucket()
        try store.createBucket("media")
        let (first, firstData) = try file("v1.flv", bytes: 200_000, seed: 5)
        let (second, secondData) = try file("v2.flv", bytes: 150_000, seed: 6)
        try store.putObject(bucket: "media", key: "show/ep1.flv", file: first, acl: .publicRead)
        try store.putObject(bucket: "media", key: "secret.flv", file: first, acl: .private)
        var logger = Logger(label: "sluice-cache-test")
        logger.logLevel = .warning
        let cache = work + "/cache"
        let library = CachingMediaLibrary(store: store, folder: cache, capacity: 300_000, recheckAfter: 0, logger: logger)
        XCTAssertFalse(library.opensWithoutWaiting)

        func contents(_ file: MediaFile?) throws -> Data? {
            guard let file else { return nil }
            return try Data(contentsOf: URL(fileURLWithPath: file.path))
        }
        XCTAssertEqual(try contents(library.openMedia(bucket: "media", key: "show/ep1.flv")), firstData)
        XCTAssertNil(library.openMedia(bucket: "media", key: "secret.flv"), "private objects never play")
        XCTAssertNil(library.openMedia(bucket: "media", key: "missing.flv"))
        XCTAssertNil(library.openMedia(bucket: "media", key: "../escape.flv"))

        // A replaced object plays its new body; the old copy leaves the cache.
        try store.putObject(bucket: "media", key: "show/ep1.flv", file: second, acl: .publicRead)
        XCTAssertEqual(try contents(library.openMedia(bucket: "media", key: "show/ep1.flv")), secondData)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache + "/media/show").count, 1)

        // Made private, it stops playing at once, and its copy leaves the cache.
        try store.setACL(bucket: "media", key: "show/ep1.flv", acl: .private)
        XCTAssertNil(library.openMedia(bucket: "media", key: "show/ep1.flv"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache + "/media/show"), [])

        // Past the capacity, the least recently played copy goes.
        try store.putObject(bucket: "media", key: "a.flv", file: first, acl: .publicRead)
        try store.putObject(bucket: "media", key: "b.flv", file: first, acl: .publicRead)
        XCTAssertNotNil(library.openMedia(bucket: "media", key: "a.flv"))
        Thread.sleep(forTimeInterval: 1.1)
        XCTAssertNotNil(library.openMedia(bucket: "media", key: "b.flv"))
        let cached = FileManager.default.enumerator(atPath: cache)!.allObjects.compactMap { $0 as? String }.filter { $0.contains(".etag-") }
        XCTAssertFalse(cached.contains { $0.hasPrefix("media/a.flv") }, "\(cached)")
        XCTAssertTrue(cached.contains { $0.hasPrefix("media/b.flv") }, "\(cached)")
    }

    /// Runs blocking store calls on a plain thread, never on Swift's cooperative pool.
    static func offThePool(_ body: @escaping @Sendable () throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            Thread {
                do {
                    try body()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
    }
}
