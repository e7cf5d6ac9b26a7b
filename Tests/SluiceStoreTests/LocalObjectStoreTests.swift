import Crypto
import Foundation
import SluiceMedia
@testable import SluiceStore
import SluiceTestSupport
import XCTest

final class LocalObjectStoreTests: XCTestCase {
    func dataFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func md5(_ data: Data) -> String { Insecure.MD5.hash(data: data).map { String(format: "%02x", $0) }.joined() }

    func testBucketsAndObjects() throws {
        let store = try LocalObjectStore(dataFolder: try dataFolder())
        try store.createBucket("media")
        XCTAssertThrowsError(try store.createBucket("media")) { XCTAssertEqual(($0 as? StoreError)?.code, .bucketAlreadyOwnedByYou) }
        XCTAssertThrowsError(try store.createBucket("Bad_Name")) { XCTAssertEqual(($0 as? StoreError)?.code, .invalidBucketName) }
        let body = Data("hello sluice".utf8)
        let info = try store.putObject(bucket: "media", key: "videos/clip.flv", data: body, metadata: ["owner": "ann"])
        XCTAssertEqual(info.etag, md5(body))
        XCTAssertEqual(info.size, Int64(body.count))
        XCTAssertEqual(info.contentType, "video/x-flv")
        XCTAssertEqual(info.acl, .private, "uploads are private by default")
        XCTAssertEqual(try store.headObject(bucket: "media", key: "videos/clip.flv").metadata, ["owner": "ann"])
        XCTAssertEqual(try store.getObjectData(bucket: "media", key: "videos/clip.flv"), body)
        XCTAssertThrowsError(try store.headObject(bucket: "media", key: "nope")) { XCTAssertEqual(($0 as? StoreError)?.code, .noSuchKey) }
        XCTAssertThrowsError(try store.headObject(bucket: "other", key: "x")) { XCTAssertEqual(($0 as? StoreError)?.code, .noSuchBucket) }
        XCTAssertThrowsError(try store.putObject(bucket: "media", key: "../escape", data: body))
        XCTAssertThrowsError(try store.deleteBucket("media")) { XCTAssertEqual(($0 as? StoreError)?.code, .bucketNotEmpty) }
        try store.deleteObject(bucket: "media", key: "videos/clip.flv")
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.bodyPath(info)), "the body goes with the object")
        try store.deleteBucket("media")
        XCTAssertEqual(try store.listBuckets().map(\.name), [])
    }

    func testOverwriteSwitchesBodiesAndLeavesNoOldOne() throws {
        let folder = try dataFolder()
        let store = try LocalObjectStore(dataFolder: folder)
        try store.createBucket("media")
        let first = try store.putObject(bucket: "media", key: "a.flv", data: Data(repeating: 1, count: 1000))
        let second = try store.putObject(bucket: "media", key: "a.flv", data: Data(repeating: 2, count: 2000))
        XCTAssertNotEqual(first.path, second.path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.bodyPath(first)))
        XCTAssertEqual(try store.getObjectData(bucket: "media", key: "a.flv"), Data(repeating: 2, count: 2000))

        // An upload that never commits leaves nothing, and a crash's leftover is swept.
        let upload = try store.beginUpload(bucket: "media", key: "b.flv")
        try upload.append(Data(repeating: 3, count: 10))
        upload.abort()
        let orphan = folder + "/objects/zz/left-by-a-crash"
        try FileManager.default.createDirectory(atPath: folder + "/objects/zz", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: orphan, contents: Data([1]))
        let reopened = try LocalObjectStore(dataFolder: folder)
        XCTAssertFalse(FileManager.default.fileExists(atPath: orphan))
        XCTAssertEqual(try reopened.getObjectData(bucket: "media", key: "a.flv").count, 2000)
        XCTAssertThrowsError(try reopened.headObject(bucket: "media", key: "b.flv"))
    }

    func testListingWithPrefixDelimiterAndPages() throws {
        let store = try LocalObjectStore(dataFolder: try dataFolder())
        try store.createBucket("media")
        for key in ["a.flv", "b/1.flv", "b/2.flv", "b/c/3.flv", "d.mp4", "é.mp3"] {
            try store.putObject(bucket: "media", key: key, data: Data(key.utf8))
        }
        let top = try store.listObjects(bucket: "media", delimiter: "/")
        XCTAssertEqual(top.objects.map(\.key), ["a.flv", "d.mp4", "é.mp3"])
        XCTAssertEqual(top.commonPrefixes, ["b/"])
        let inside = try store.listObjects(bucket: "media", prefix: "b/", delimiter: "/")
        XCTAssertEqual(inside.objects.map(\.key), ["b/1.flv", "b/2.flv"])
        XCTAssertEqual(inside.commonPrefixes, ["b/c/"])
        var keys: [String] = []
        var token: String?
        repeat {
            let page = try store.listObjects(bucket: "media", continuationToken: token, maxKeys: 2)
            XCTAssertLessThanOrEqual(page.objects.count, 2)
            keys += page.objects.map(\.key)
            token = page.isTruncated ? page.nextContinuationToken : nil
        } while token != nil
        XCTAssertEqual(keys, ["a.flv", "b/1.flv", "b/2.flv", "b/c/3.flv", "d.mp4", "é.mp3"])
    }

    func testExistingFolderFilesAreImportedAsPublicAndOnlyPublicObjectsStream() throws {
        let folder = try dataFolder()
        try FileManager.default.createDirectory(atPath: folder + "/buckets/media/videos", withIntermediateDirectories: true)
        try Data("old clip".utf8).write(to: URL(fileURLWithPath: folder + "/buckets/media/videos/old.flv"))
        try Data("hidden".utf8).write(to: URL(fileURLWithPath: folder + "/buckets/media/.partial"))
        let store = try LocalObjectStore(dataFolder: folder)
        XCTAssertEqual(try store.importBucketFolders(), 1)
        XCTAssertEqual(try store.importBucketFolders(), 0, "importing twice adds nothing")
        let imported = try store.headObject(bucket: "media", key: "videos/old.flv")
        XCTAssertEqual(imported.acl, .publicRead)
        XCTAssertEqual(imported.path, "buckets/media/videos/old.flv", "imported in place")

        let library = StoreMediaLibrary(store: store)
        XCTAssertNotNil(library.openMedia(bucket: "media", key: "videos/old.flv"))
        try store.putObject(bucket: "media", key: "new.flv", data: Data("new".utf8))
        XCTAssertNil(library.openMedia(bucket: "media", key: "new.flv"), "private objects do not stream")
        try store.setACL(bucket: "media", key: "new.flv", acl: .publicRead)
        XCTAssertNotNil(library.openMedia(bucket: "media", key: "new.flv"))
        XCTAssertNil(library.openMedia(bucket: "media", key: "../media/new.flv"))
    }

    func testTwoStoresOnOneFolderSeeEachOthersWrites() throws {
        // The server and a CLI command share the data folder through SQLite in WAL mode.
        let folder = try dataFolder()
        let server = try LocalObjectStore(dataFolder: folder)
        let command = try LocalObjectStore(dataFolder: folder)
        try command.createBucket("media")
        try command.putObject(bucket: "media", key: "x.flv", data: Data("x".utf8), acl: .publicRead)
        XCTAssertEqual(try server.headObject(bucket: "media", key: "x.flv").acl, .publicRead)
    }

    /// What plays is cached per process, and every write from any store on the folder
    /// (here a second instance, as a CLI command would be) is seen by the next lookup.
    func testPlayLookupsFollowEveryWriteAtOnce() throws {
        let folder = try dataFolder()
        let server = try LocalObjectStore(dataFolder: folder)
        let command = try LocalObjectStore(dataFolder: folder)
        try command.createBucket("media")
        XCTAssertNil(server.publicBodyPath(bucket: "media", key: "talk.flv"))
        XCTAssertNil(server.publicBodyPath(bucket: "media", key: "talk.flv"), "a cached miss")

        try command.putObject(bucket: "media", key: "talk.flv", data: Data("first".utf8), acl: .publicRead)
        let first = try XCTUnwrap(server.publicBodyPath(bucket: "media", key: "talk.flv"), "a new upload plays at once")
        XCTAssertEqual(server.publicBodyPath(bucket: "media", key: "talk.flv"), first)
        XCTAssertEqual(FileManager.default.contents(atPath: first), Data("first".utf8))

        try command.putObject(bucket: "media", key: "talk.flv", data: Data("second".utf8), acl: .publicRead)
        let second = try XCTUnwrap(server.publicBodyPath(bucket: "media", key: "talk.flv"))
        XCTAssertEqual(FileManager.default.contents(atPath: second), Data("second".utf8), "a replaced object plays its new body")

        try command.setACL(bucket: "media", key: "talk.flv", acl: .private)
        XCTAssertNil(server.publicBodyPath(bucket: "media", key: "talk.flv"), "an object made private stops at once")
        try command.setACL(bucket: "media", key: "talk.flv", acl: .publicRead)
        XCTAssertNotNil(server.publicBodyPath(bucket: "media", key: "talk.flv"))
        try command.deleteObject(bucket: "media", key: "talk.flv")
        XCTAssertNil(server.publicBodyPath(bucket: "media", key: "talk.flv"), "a deleted object stops at once")
    }

    /// A put that runs out of disk says StorageFull and keeps nothing of itself: the old
    /// body still serves, no partial file or row is left, and once there is room the same
    /// put succeeds.
    func testFullDiskKeepsTheOldObjectAndNothingPartial() async throws {
        let disk = try await SmallFileSystem.mount(at: try dataFolder() + "/data", megabytes: 2)
        defer { disk.unmount() }
        let store = try LocalObjectStore(dataFolder: disk.path)
        try store.createBucket("media")
        let small = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        let old = try store.putObject(bucket: "media", key: "talk.flv", data: small, acl: .publicRead)
        func bodyFiles() -> [String] {
            (FileManager.default.enumerator(atPath: disk.path)?.allObjects as? [String] ?? []).filter { path in
                var info = stat()
                return !path.hasPrefix("sluice.sqlite") && lstat(disk.path + "/" + path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
            }.sorted()
        }
        let before = bodyFiles()

        let big = NSTemporaryDirectory() + "sluice-big-\(UUID().uuidString)"
        try Data((0..<4_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: big))
        defer { try? FileManager.default.removeItem(atPath: big) }
        XCTAssertThrowsError(try store.putObject(bucket: "media", key: "talk.flv", file: big, acl: .publicRead)) { error in
            XCTAssertEqual((error as? StoreError)?.code, .storageFull, "\(error)")
            XCTAssertTrue("\(error)".contains("disk is full"), "\(error)")
        }
        XCTAssertThrowsError(try store.putObject(bucket: "media", key: "new.flv", file: big)) { error in
            XCTAssertEqual((error as? StoreError)?.code, .storageFull, "\(error)")
        }
        let kept = try store.headObject(bucket: "media", key: "talk.flv")
        XCTAssertEqual([kept.etag, kept.path, "\(kept.size)"], [old.etag, old.path, "\(old.size)"])
        XCTAssertEqual(try store.getObjectData(bucket: "media", key: "talk.flv"), small)
        XCTAssertEqual(store.publicBodyPath(bucket: "media", key: "talk.flv"), store.bodyPath(old))
        XCTAssertThrowsError(try store.headObject(bucket: "media", key: "new.flv")) { XCTAssertEqual(($0 as? StoreError)?.code, .noSuchKey) }
        XCTAssertEqual(bodyFiles(), before, "no partial body is left behind")

        try await disk.grow(to: 16)
        let replaced = try store.putObject(bucket: "media", key: "talk.flv", file: big, acl: .publicRead)
        XCTAssertEqual(replaced.size, 4_000_000)
        XCTAssertEqual(try store.getObjectData(bucket: "media", key: "talk.flv").count, 4_000_000)
    }

    /// Part sizes are read back only when they add up to the body: a damaged row cannot
    /// make GET ?partNumber serve a range outside the object.
    func testPartSizesThatDoNotAddUpAreIgnored() throws {
        let store = try LocalObjectStore(dataFolder: try dataFolder())
        try store.createBucket("media")
        try store.putObject(bucket: "media", key: "k", data: Data(count: 10))
        for (text, expected) in [("4,6", [4, 6] as [Int64]?), ("4,5", nil), ("5,-1,6", nil), ("\(Int64.max),\(Int64.max),12", nil), ("x", nil)] {
            try store.database.write { try $0.execute(sql: "UPDATE object SET partSizes = ?", arguments: [text]) }
            XCTAssertEqual(try store.headObject(bucket: "media", key: "k").partSizes, expected, text)
        }
    }
}
