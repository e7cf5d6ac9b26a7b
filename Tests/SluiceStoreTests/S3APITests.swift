import Foundation
@testable import SluiceStore
import SluiceTestSupport
import XCTest

/// The S3 API against real clients: boto3/botocore and the AWS CLI.
final class S3APITests: XCTestCase {
    static let accessKey = "SLUICETESTKEY"
    static let secretKey = "sluice/test+secret"

    var running: S3TestServer!
    var folder: String { running.folder }
    var port: Int { running.port }

    override func setUp() async throws {
        running = try await S3TestServer.start(credentials: [Self.accessKey: Self.secretKey])
    }

    override func tearDown() async throws {
        await running?.stop()
    }

    var environment: [String: String] {
        ["SLUICE_S3_ENDPOINT": "http://127.0.0.1:\(port)", "SLUICE_S3_ACCESS_KEY": Self.accessKey, "SLUICE_S3_SECRET_KEY": Self.secretKey,
         "AWS_ACCESS_KEY_ID": Self.accessKey, "AWS_SECRET_ACCESS_KEY": Self.secretKey, "AWS_DEFAULT_REGION": "us-east-1",
         "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PAGER": ""]
    }

    func testBoto3Checks() async throws {
        try await ExternalTool.requirePython(module: "boto3", install: "pip install boto3")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/s3_boto3_checks.py").path
        let result = try await ExternalTool.run(["python3", script], timeout: 120, environment: environment)
        XCTAssertEqual(result.status, 0, "boto3 checks failed:\n\(result.output)\n\(result.standardError)")
        XCTAssertTrue(result.output.contains("ALL OK"), result.output)
    }

    /// Three users with their own keys: owners, canned ACLs, grants by header and by
    /// AccessControlPolicy, cross-user denials, public-read-write; then what streaming
    /// and basic distributions may serve (AllUsers READ alone).
    func testUsersOwnersAndGrants() async throws {
        try await ExternalTool.requirePython(module: "boto3", install: "pip install boto3")
        try await ExternalTool.requirePython(module: "requests", install: "pip install requests")
        try running.users.addUser(name: "user2", email: "user2@example.com", key: AccessKeyPair(accessKey: "SLUICEALTKEY", secretKey: "alt/secret"))
        try running.users.addUser(name: "user3", key: AccessKeyPair(accessKey: "SLUICETEAMKEY", secretKey: "team/secret"))
        var environment = environment
        environment["SLUICE_S3_USERS"] = "\(Self.accessKey):\(Self.secretKey),SLUICEALTKEY:alt/secret,SLUICETEAMKEY:team/secret"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/s3_boto3_users.py").path
        let result = try await ExternalTool.run(["python3", script], timeout: 120, environment: environment)
        XCTAssertEqual(result.status, 0, "boto3 user checks failed:\n\(result.output)\n\(result.standardError)")
        XCTAssertTrue(result.output.contains("ALL OK"), result.output)

        let store = try LocalObjectStore(dataFolder: folder)
        XCTAssertNotNil(store.publicBodyPath(bucket: "owned", key: "public.txt"), "a READ grant to AllUsers streams")
        XCTAssertNil(store.publicBodyPath(bucket: "owned", key: "auth.txt"), "authenticated-read does not")
        XCTAssertNil(store.publicBodyPath(bucket: "dropbox", key: "anon.txt"), "a public-read-write bucket's objects are private")
        let owner = try store.headObject(bucket: "owned", key: "for-owner.txt").access.owner
        XCTAssertEqual(owner, try running.users.user(named: "user2").id)
    }

    /// `aws s3 mb/cp/ls/rm`, `aws s3api put-object-acl` and `list-object-versions`, and a 20 MB multipart copy, each
    /// checked against what the store then holds.
    func testAWSCLI() async throws {
        let aws = try ExternalTool.require("aws", install: "pip install awscli")
        let endpoint = ["--endpoint-url", "http://127.0.0.1:\(port)"]
        func run(_ arguments: [String]) async throws -> ExternalTool.Result {
            let result = try await ExternalTool.run([aws] + endpoint + arguments, timeout: 120, environment: environment)
            XCTAssertEqual(result.status, 0, "aws \(arguments.joined(separator: " ")): \(result.standardError)")
            return result
        }
        let work = folder + "-files"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        var generator = SplitMix(seed: 42)
        let big = Data((0..<(20 * 1024 * 1024)).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
        try big.write(to: URL(fileURLWithPath: work + "/big.bin"))
        try Data("small\n".utf8).write(to: URL(fileURLWithPath: work + "/small.txt"))

        _ = try await run(["s3", "mb", "s3://cli"])
        _ = try await run(["s3", "cp", work + "/big.bin", "s3://cli/videos/big.bin"])
        _ = try await run(["s3", "cp", work + "/small.txt", "s3://cli/small.txt"])
        let store = try LocalObjectStore(dataFolder: folder)
        let info = try store.headObject(bucket: "cli", key: "videos/big.bin")
        XCTAssertEqual(info.size, Int64(big.count))
        XCTAssertTrue(info.etag.hasSuffix("-3"), "20 MB goes up in three 8 MB parts: \(info.etag)")
        XCTAssertEqual(try store.getObjectData(bucket: "cli", key: "videos/big.bin"), big)
        XCTAssertEqual(info.acl, .private)

        let listing = try await run(["s3", "ls", "s3://cli", "--recursive"]).output
        XCTAssertTrue(listing.contains("20971520 videos/big.bin") && listing.contains("6 small.txt"), listing)
        let top = try await run(["s3", "ls", "s3://cli/"]).output
        XCTAssertTrue(top.contains("PRE videos/"), top)

        _ = try await run(["s3", "cp", "s3://cli/videos/big.bin", work + "/back.bin"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: work + "/back.bin")), big)

        _ = try await run(["s3api", "put-object-acl", "--bucket", "cli", "--key", "small.txt", "--acl", "public-read"])
        XCTAssertEqual(try store.headObject(bucket: "cli", key: "small.txt").acl, .publicRead)
        let anonymous = try await ExternalTool.run(["curl", "-sS", "-o", "-", "-w", "%{http_code}", "http://127.0.0.1:\(port)/cli/small.txt"])
        XCTAssertEqual(anonymous.output, "small\n200")
        let denied = try await ExternalTool.run(["curl", "-sS", "-o", "-", "-w", "%{http_code}", "http://127.0.0.1:\(port)/cli/videos/big.bin"])
        XCTAssertTrue(denied.output.contains("<Code>AccessDenied</Code>") && denied.output.hasSuffix("403"), denied.output)

        // What a tool that empties a bucket first lists: every object as version "null".
        let versions = try await run(["s3api", "list-object-versions", "--bucket", "cli", "--query", "Versions[].[Key,VersionId]",
                                      "--output", "text"]).output
        XCTAssertEqual(versions.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) },
                       [["small.txt", "null"], ["videos/big.bin", "null"]], versions)

        _ = try await run(["s3", "rm", "s3://cli/small.txt"])
        XCTAssertThrowsError(try store.headObject(bucket: "cli", key: "small.txt"))
        _ = try await run(["s3", "rm", "s3://cli", "--recursive"])
        _ = try await run(["s3", "rb", "s3://cli"])
        XCTAssertFalse(try store.bucketExists("cli"))
    }

    /// A malformed request gets an error and the server keeps serving.
    func testMalformedRequestsGetErrorsAndTheServerStaysUp() async throws {
        try ExternalTool.require("curl")
        let base = "http://127.0.0.1:\(port)"
        let garbage = try await ExternalTool.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                                                  "-H", "Authorization: AWS4-HMAC-SHA256 nonsense", base + "/b"])
        XCTAssertEqual(garbage.output, "400")
        let v2 = try await ExternalTool.run(["curl", "-sS", "-H", "Authorization: AWS \(Self.accessKey):c2lnbmF0dXJl", base + "/"])
        XCTAssertTrue(v2.output.contains("<Code>SignatureDoesNotMatch</Code>"), v2.output)
        // CORS preflights, as to a bucket without a CORS configuration.
        let preflight = try await ExternalTool.run(["curl", "-sS", "-X", "OPTIONS", "-w", "%{http_code}", base + "/b/k"])
        XCTAssertTrue(preflight.output.contains("<Code>BadRequest</Code>") && preflight.output.hasSuffix("400"), preflight.output)
        let cors = try await ExternalTool.run(["curl", "-sS", "-X", "OPTIONS", "-H", "Origin: http://example.com", "-o", "/dev/null",
                                               "-w", "%{http_code}", base + "/b/k"])
        XCTAssertEqual(cors.output, "403")
        // Still up; an unsigned ListBuckets lists nothing (as Ceph RGW answers it).
        let still = try await ExternalTool.run(["curl", "-sS", "-w", "%{http_code}", base + "/"])
        XCTAssertTrue(still.output.contains("<Buckets></Buckets></ListAllMyBucketsResult>200"), still.output)
    }
}
