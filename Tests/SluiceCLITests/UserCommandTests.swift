import Foundation
import SluiceTestSupport
import XCTest

/// `sluice user` beside a running server, with the AWS CLI as the client: a user added
/// while the server runs signs at once, sees only what it owns or is granted, and stops
/// signing once removed; a user from sluice.yml works as well.
final class UserCommandTests: XCTestCase {
    func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-users-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func testUsersAddedListedAndRemovedWhileServing() async throws {
        let aws = try ExternalTool.require("aws", install: "pip install awscli")
        let data = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: data) }
        try "users:\n  config:\n    access-key: CONFIGUSERKEY0001\n    secret-key: config/secret\n    email: config@example.com\n"
            .write(toFile: data + "/sluice.yml", atomically: true, encoding: .utf8)
        let (process, _, _, logFile) = try await ServeCommandTests.startServer(data: data)
        defer { process.terminate() }
        let log = try String(contentsOfFile: logFile, encoding: .utf8)
        let s3Port = try XCTUnwrap(ServeCommandTests.port(after: "S3 API listening on 127.0.0.1:", in: log), log)
        XCTAssertTrue(log.contains("made the administrator admin"), log)
        XCTAssertTrue(log.contains("users: admin, config"), log)

        func field(_ label: String, in text: String) throws -> String {
            let range = try XCTUnwrap(text.range(of: label), text)
            return String(text[range.upperBound...].drop { $0 == " " }.prefix { !$0.isWhitespace })
        }
        let adminKey = try field("access key:", in: log), adminSecret = try field("secret key:", in: log)
        let added = try SluiceProcess.run(["user", "add", "edge", "--data", data])
        XCTAssertEqual(added.status, 0, added.output)
        let edgeKey = try field("access key:", in: added.output), edgeSecret = try field("secret key:", in: added.output)
        let edgeID = try field("canonical ID:", in: added.output)
        XCTAssertEqual(edgeID.count, 64)

        let listed = try SluiceProcess.run(["user", "ls", "--json", "--data", data])
        let users = listed.output.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        XCTAssertEqual(users.map { $0["name"] as? String }, ["admin", "edge"], listed.output)
        XCTAssertEqual(users.map { $0["administrator"] as? Bool }, [true, false])
        XCTAssertEqual(users.last?["id"] as? String, edgeID)

        func run(_ key: String, _ secret: String, _ arguments: [String]) async throws -> ExternalTool.Result {
            try await ExternalTool.run([aws, "--endpoint-url", "http://127.0.0.1:\(s3Port)"] + arguments, timeout: 60, environment: [
                "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PAGER": "",
            ])
        }
        // Only administrators sign the control API.
        let control = try XCTUnwrap(ServeCommandTests.port(after: "control port listening on 127.0.0.1:", in: log), log)
        func distributions(_ key: String, _ secret: String) async throws -> ExternalTool.Result {
            try await ExternalTool.run([aws, "--endpoint-url", "http://127.0.0.1:\(control)", "cloudfront", "list-distributions"], timeout: 60,
                                       environment: ["AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1",
                                                     "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PAGER": ""])
        }
        let asAdmin = try await distributions(adminKey, adminSecret)
        XCTAssertEqual(asAdmin.status, 0, asAdmin.standardError)
        let asEdge = try await distributions(edgeKey, edgeSecret)
        XCTAssertNotEqual(asEdge.status, 0)
        XCTAssertTrue(asEdge.standardError.contains("403") || asEdge.standardError.contains("InvalidClientTokenId"), asEdge.standardError)

        // The default bucket is the administrator's; the new user sees none of its own.
        let edgeBuckets = try await run(edgeKey, edgeSecret, ["s3api", "list-buckets", "--query", "Buckets[].Name", "--output", "text"])
        XCTAssertEqual(edgeBuckets.status, 0, edgeBuckets.standardError)
        XCTAssertTrue(["", "None"].contains(edgeBuckets.output.trimmingCharacters(in: .whitespacesAndNewlines)), edgeBuckets.output)
        let refused = try await run(edgeKey, edgeSecret, ["s3api", "list-objects-v2", "--bucket", "media"])
        XCTAssertTrue(refused.standardError.contains("AccessDenied"), refused.standardError)
        let adminID = try await run(adminKey, adminSecret, ["s3api", "list-buckets", "--query", "Owner.ID", "--output", "text"])
            .output.trimmingCharacters(in: .whitespacesAndNewlines)
        let granted = try await run(adminKey, adminSecret, ["s3api", "put-bucket-acl", "--bucket", "media",
                                                            "--grant-full-control", "id=\(adminID)", "--grant-read", "id=\(edgeID)"])
        XCTAssertEqual(granted.status, 0, granted.standardError)
        let listing = try await run(edgeKey, edgeSecret, ["s3api", "list-objects-v2", "--bucket", "media", "--query", "Contents[].Key", "--output", "text"])
        XCTAssertTrue(listing.output.contains("sample.flv"), listing.output + listing.standardError)

        // A user from sluice.yml signs, and a grant by its address reaches it.
        let byAddress = try await run(adminKey, adminSecret, ["s3api", "put-bucket-acl", "--bucket", "media",
                                                              "--grant-full-control", "id=\(adminID)", "--grant-write", "emailAddress=config@example.com"])
        XCTAssertEqual(byAddress.status, 0, byAddress.standardError)
        let upload = data + "/note.txt"
        try "from the configured user\n".write(toFile: upload, atomically: true, encoding: .utf8)
        let put = try await run("CONFIGUSERKEY0001", "config/secret", ["s3", "cp", upload, "s3://media/notes/note.txt"])
        XCTAssertEqual(put.status, 0, put.standardError)

        let removed = try SluiceProcess.run(["user", "rm", "edge", "--data", data])
        XCTAssertEqual(removed.status, 0, removed.output)
        // The server reads the users again within a second: wait for the key to stop working.
        var after = try await run(edgeKey, edgeSecret, ["s3api", "list-buckets"])
        let deadline = Date().addingTimeInterval(10)
        while after.status == 0 && Date() < deadline {
            try await Task.sleep(for: .milliseconds(200))
            after = try await run(edgeKey, edgeSecret, ["s3api", "list-buckets"])
        }
        XCTAssertTrue(after.standardError.contains("InvalidAccessKeyId"), after.standardError)
        let last = try SluiceProcess.run(["user", "rm", "admin", "--data", data])
        XCTAssertNotEqual(last.status, 0)
        XCTAssertTrue(last.output.contains("only administrator"), last.output)
    }
}
