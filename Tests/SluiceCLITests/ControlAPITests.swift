import Foundation
import SluiceTestSupport
import XCTest

/// The control API on the control port, driven by the real AWS CLI (API 2020-05-31)
/// and, for 2009-12-01, by the original guide's example request signed with botocore.
final class ControlAPICLITests: XCTestCase {
    struct Server {
        let process: Process
        let rtmpPort: Int
        let httpPort: Int
        let controlPort: Int
        let environment: [String: String]
        let data: String
    }

    func start() async throws -> Server {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-control-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let (process, port, http, logFile) = try await ServeCommandTests.startServer(data: data)
        let log = try String(contentsOfFile: logFile, encoding: .utf8)
        func printed(_ label: String) throws -> String {
            let range = try XCTUnwrap(log.range(of: label), log)
            return String(log[range.upperBound...].prefix { !$0.isWhitespace })
        }
        let control = try XCTUnwrap(ServeCommandTests.port(after: "control port listening on 127.0.0.1:", in: log), log)
        let environment = ["AWS_ACCESS_KEY_ID": try printed("access key: "), "AWS_SECRET_ACCESS_KEY": try printed("secret key: "),
                           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"]
        return Server(process: process, rtmpPort: port, httpPort: http, controlPort: control, environment: environment, data: data)
    }

    func aws(_ server: Server, _ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, json: [String: Any], error: String) {
        let aws = try ExternalTool.require("aws", install: "pip install awscli")
        let result = try await ExternalTool.run([aws, "--endpoint-url", "http://127.0.0.1:\(server.controlPort)", "--output", "json", "cloudfront"]
                                                + arguments, environment: server.environment.merging(environment) { $1 })
        let json = (try? JSONSerialization.jsonObject(with: result.standardOutput) as? [String: Any]) ?? [:]
        return (result.status, json, result.standardError)
    }

    static func config(_ reference: String, enabled: Bool = true, comment: String = "talks") -> String {
        """
        {"CallerReference":"\(reference)","S3Origin":{"DomainName":"media.s3.amazonaws.com","OriginAccessIdentity":""},\
        "Comment":"\(comment)","TrustedSigners":{"Enabled":false,"Quantity":0},"Enabled":\(enabled)}
        """
    }

    func testEveryStreamingOperationWithTheAWSCLI() async throws {
        try ExternalTool.require("rtmpdump")
        let server = try await start()
        defer { server.process.terminate() }

        let created = try await aws(server, ["create-streaming-distribution", "--streaming-distribution-config", Self.config("r1")])
        XCTAssertEqual(created.status, 0, created.error)
        let distribution = try XCTUnwrap(created.json["StreamingDistribution"] as? [String: Any], "\(created.json)")
        let id = try XCTUnwrap(distribution["Id"] as? String)
        let domain = try XCTUnwrap(distribution["DomainName"] as? String)
        XCTAssertEqual(created.json["Location"] as? String, "http://127.0.0.1:\(server.controlPort)/2020-05-31/streaming-distribution/\(id)")
        XCTAssertEqual(distribution["Status"] as? String, "InProgress")
        let etag = try XCTUnwrap(created.json["ETag"] as? String)

        // The same caller reference: the same distribution; with other settings: a conflict.
        let replay = try await aws(server, ["create-streaming-distribution", "--streaming-distribution-config", Self.config("r1")])
        XCTAssertEqual((replay.json["StreamingDistribution"] as? [String: Any])?["Id"] as? String, id, replay.error)
        let conflict = try await aws(server, ["create-streaming-distribution", "--streaming-distribution-config", Self.config("r1", comment: "other")])
        XCTAssertTrue(conflict.error.contains("StreamingDistributionAlreadyExists"), conflict.error)

        // Deployed within seconds, and it plays under its own domain name.
        let status = try await waitUntilDeployed(server, "get-streaming-distribution", id, key: "StreamingDistribution")
        XCTAssertEqual(status, "Deployed")
        let played = try await ExternalTool.run(["rtmpdump", "-r", "rtmp://127.0.0.1:\(server.rtmpPort)/cfx/st", "-t", "rtmp://\(domain)/cfx/st",
                                                 "-y", "sample.flv", "-o", "/dev/null"], timeout: 30)
        XCTAssertEqual(played.status, 0, played.standardError)

        let config = try await aws(server, ["get-streaming-distribution-config", "--id", id])
        XCTAssertEqual(config.json["ETag"] as? String, etag)
        XCTAssertEqual((config.json["StreamingDistributionConfig"] as? [String: Any])?["Comment"] as? String, "talks")

        let stale = try await aws(server, ["update-streaming-distribution", "--id", id, "--if-match", "ESTALE",
                                           "--streaming-distribution-config", Self.config("r1", enabled: false)])
        XCTAssertTrue(stale.error.contains("PreconditionFailed"), stale.error)
        let enabledDelete = try await aws(server, ["delete-streaming-distribution", "--id", id, "--if-match", etag])
        XCTAssertTrue(enabledDelete.error.contains("StreamingDistributionNotDisabled"), enabledDelete.error)
        let disabled = try await aws(server, ["update-streaming-distribution", "--id", id, "--if-match", etag,
                                              "--streaming-distribution-config", Self.config("r1", enabled: false)])
        XCTAssertEqual(disabled.status, 0, disabled.error)
        let newTag = try XCTUnwrap(disabled.json["ETag"] as? String)
        XCTAssertNotEqual(newTag, etag)

        // Pages of one: the CLI follows NextMarker to the end.
        for reference in ["r2", "r3"] {
            let made = try await aws(server, ["create-streaming-distribution", "--streaming-distribution-config", Self.config(reference)])
            XCTAssertEqual(made.status, 0, made.error)
        }
        let listed = try await aws(server, ["list-streaming-distributions", "--page-size", "1"])
        let items = ((listed.json["StreamingDistributionList"] as? [String: Any])?["Items"] as? [[String: Any]]) ?? []
        XCTAssertEqual(items.count, 3, "\(listed.json) \(listed.error)")

        let deleted = try await aws(server, ["delete-streaming-distribution", "--id", id, "--if-match", newTag])
        XCTAssertEqual(deleted.status, 0, deleted.error)
        let gone = try await aws(server, ["get-streaming-distribution", "--id", id])
        XCTAssertTrue(gone.error.contains("NoSuchStreamingDistribution"), gone.error)
        let wrongKey = try await aws(server, ["list-streaming-distributions"], environment: ["AWS_SECRET_ACCESS_KEY": "wrong"])
        XCTAssertTrue(wrongKey.error.contains("SignatureDoesNotMatch"), wrongKey.error)
        let unsigned = try await ExternalTool.run(["curl", "-s", "-w", "\n%{http_code}", "http://127.0.0.1:\(server.controlPort)/2020-05-31/streaming-distribution"])
        XCTAssertTrue(unsigned.output.contains("<Code>AccessDenied</Code>"), unsigned.output)
        XCTAssertTrue(unsigned.output.hasSuffix("\n403"), unsigned.output)
    }

    /// Polls `get-(streaming-)distribution` until its status is Deployed (seconds).
    func waitUntilDeployed(_ server: Server, _ operation: String, _ id: String, key: String) async throws -> String {
        var status = ""
        let deadline = Date().addingTimeInterval(10)
        while status != "Deployed", Date() < deadline {
            status = ((try await aws(server, [operation, "--id", id])).json[key] as? [String: Any])?["Status"] as? String ?? ""
            try await Task.sleep(for: .milliseconds(200))
        }
        return status
    }

    /// A basic distribution as the AWS CLI makes one (`create-distribution` with its
    /// shorthand options, which send a whole DistributionConfig), served over HTTP under
    /// its domain name, then changed, disabled and deleted.
    func testEveryBasicDistributionOperationWithTheAWSCLI() async throws {
        let curl = try ExternalTool.require("curl")
        let server = try await start()
        defer { server.process.terminate() }
        let created = try await aws(server, ["create-distribution", "--origin-domain-name", "media.s3.amazonaws.com",
                                             "--default-root-object", "sample.flv"])
        XCTAssertEqual(created.status, 0, created.error)
        let distribution = try XCTUnwrap(created.json["Distribution"] as? [String: Any], "\(created.json)")
        let id = try XCTUnwrap(distribution["Id"] as? String)
        let domain = try XCTUnwrap(distribution["DomainName"] as? String)
        XCTAssertNotNil(domain.range(of: #"^d[a-z0-9]{13}\."#, options: .regularExpression), domain)
        XCTAssertEqual(created.json["Location"] as? String, "http://127.0.0.1:\(server.controlPort)/2020-05-31/distribution/\(id)")
        let sentConfig = try XCTUnwrap(distribution["DistributionConfig"] as? [String: Any])
        XCTAssertEqual(sentConfig["DefaultRootObject"] as? String, "sample.flv")
        let origins = (sentConfig["Origins"] as? [String: Any])?["Items"] as? [[String: Any]]
        XCTAssertEqual(origins?.first?["DomainName"] as? String, "media.s3.amazonaws.com")
        let status = try await waitUntilDeployed(server, "get-distribution", id, key: "Distribution")
        XCTAssertEqual(status, "Deployed")

        // Served over HTTP under its domain name: `/` is the default root object.
        let sample = try Data(contentsOf: URL(fileURLWithPath: server.data + "/buckets/media/sample.flv"))
        let root = try await ExternalTool.run([curl, "-s", "-H", "Host: \(domain)", "http://127.0.0.1:\(server.httpPort)/"])
        XCTAssertEqual(root.standardOutput, sample)

        // The config comes back as the CLI sent it; an update of it (JSON round trip) applies.
        let config = try await aws(server, ["get-distribution-config", "--id", id])
        var document = try XCTUnwrap(config.json["DistributionConfig"] as? [String: Any], "\(config.json)")
        let etag = try XCTUnwrap(config.json["ETag"] as? String)
        XCTAssertEqual((document["DefaultCacheBehavior"] as? [String: Any])?["TargetOriginId"] as? String,
                       (sentConfig["DefaultCacheBehavior"] as? [String: Any])?["TargetOriginId"] as? String)
        document["Enabled"] = false
        document["Comment"] = "retired"
        let json = String(decoding: try JSONSerialization.data(withJSONObject: document), as: UTF8.self)
        let enabledDelete = try await aws(server, ["delete-distribution", "--id", id, "--if-match", etag])
        XCTAssertTrue(enabledDelete.error.contains("DistributionNotDisabled"), enabledDelete.error)
        let updated = try await aws(server, ["update-distribution", "--id", id, "--if-match", etag, "--distribution-config", json])
        XCTAssertEqual(updated.status, 0, updated.error)
        let newTag = try XCTUnwrap(updated.json["ETag"] as? String)
        XCTAssertEqual(((updated.json["Distribution"] as? [String: Any])?["DistributionConfig"] as? [String: Any])?["Comment"] as? String, "retired")

        let stale = try await aws(server, ["update-distribution", "--id", id, "--if-match", etag, "--distribution-config", json])
        XCTAssertTrue(stale.error.contains("PreconditionFailed"), stale.error)

        // A config of its own: the same caller reference again is the same distribution;
        // with other settings, a conflict.
        var second = document
        second["CallerReference"] = "site-2"
        second["Enabled"] = true
        let secondJSON = String(decoding: try JSONSerialization.data(withJSONObject: second), as: UTF8.self)
        let made = try await aws(server, ["create-distribution", "--distribution-config", secondJSON])
        XCTAssertEqual(made.status, 0, made.error)
        let secondID = try XCTUnwrap((made.json["Distribution"] as? [String: Any])?["Id"] as? String)
        let replay = try await aws(server, ["create-distribution", "--distribution-config", secondJSON])
        XCTAssertEqual((replay.json["Distribution"] as? [String: Any])?["Id"] as? String, secondID, replay.error)
        second["Comment"] = "other"
        let conflict = try await aws(server, ["create-distribution", "--distribution-config",
                                              String(decoding: try JSONSerialization.data(withJSONObject: second), as: UTF8.self)])
        XCTAssertTrue(conflict.error.contains("DistributionAlreadyExists"), conflict.error)

        // Pages of one: the CLI follows NextMarker to the end.
        let listed = try await aws(server, ["list-distributions", "--page-size", "1"])
        let items = ((listed.json["DistributionList"] as? [String: Any])?["Items"] as? [[String: Any]]) ?? []
        XCTAssertEqual(Set(items.compactMap { $0["Id"] as? String }), [id, secondID], "\(listed.json) \(listed.error)")
        XCTAssertEqual(items.first { $0["Id"] as? String == id }?["Enabled"] as? Bool, false)

        let deleted = try await aws(server, ["delete-distribution", "--id", id, "--if-match", newTag])
        XCTAssertEqual(deleted.status, 0, deleted.error)
        let gone = try await aws(server, ["get-distribution", "--id", id])
        XCTAssertTrue(gone.error.contains("NoSuchDistribution"), gone.error)
    }

    /// The 2009-12-01 example of the original developer guide, byte for byte, signed
    /// with botocore's SigV4 signer for service cloudfront.
    func testTheOriginalGuidesExampleRequest() async throws {
        let body = """
            <?xml version="1.0" encoding="UTF-8"?><StreamingDistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2009-12-01/">\
            <Origin>mystreamingbucket.s3.amazonaws.com</Origin><CallerReference>20091130090000</CallerReference>\
            <Comment>My comments</Comment><Enabled>true</Enabled></StreamingDistributionConfig>
            """
        try await originalExample(resource: "streaming-distribution", root: "StreamingDistribution", domainPrefix: "s", body: body)
    }

    /// The guide's basic-distribution example of the same version: the same flat shape.
    func testTheOriginalGuidesBasicDistributionExample() async throws {
        let body = """
            <?xml version="1.0" encoding="UTF-8"?><DistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2009-12-01/">\
            <Origin>mystreamingbucket.s3.amazonaws.com</Origin><CallerReference>20091130090000</CallerReference>\
            <CNAME>beagles.com</CNAME><Comment>My comments</Comment><Enabled>true</Enabled></DistributionConfig>
            """
        try await originalExample(resource: "distribution", root: "Distribution", domainPrefix: "d", body: body)
    }

    func originalExample(resource: String, root: String, domainPrefix: String, body: String) async throws {
        try await ExternalTool.requirePython(module: "botocore", install: "pip install botocore")
        let server = try await start()
        defer { server.process.terminate() }
        XCTAssertEqual(try SluiceProcess.run(["bucket", "mb", "mystreamingbucket", "--data", server.data]).status, 0)
        let script = """
            import sys, urllib.request, urllib.error, botocore.auth, botocore.awsrequest, botocore.credentials
            url, key, secret, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()
            request = botocore.awsrequest.AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "text/xml"})
            botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret), "cloudfront", "us-east-1").add_auth(request)
            prepared = request.prepare()
            try:
                response = urllib.request.urlopen(urllib.request.Request(url, data=body, headers=dict(prepared.headers), method="POST"))
            except urllib.error.HTTPError as error:
                response = error
            print(response.status)
            print(response.headers.get("Location"))
            print(response.read().decode())
            """
        let url = "http://127.0.0.1:\(server.controlPort)/2009-12-01/\(resource)"
        let result = try await ExternalTool.run(["python3", "-c", script, url, server.environment["AWS_ACCESS_KEY_ID"]!,
                                                 server.environment["AWS_SECRET_ACCESS_KEY"]!, body])
        let lines = result.output.split(separator: "\n", maxSplits: 2).map(String.init)
        XCTAssertEqual(lines.first, "201", "\(result.output) \(result.standardError)")
        let answer = lines.count > 2 ? lines[2] : ""
        let id = try XCTUnwrap(answer.range(of: #"<Id>E[A-Z0-9]{13}</Id>"#, options: .regularExpression).map { String(answer[$0].dropFirst(4).dropLast(5)) },
                               answer)
        XCTAssertEqual(lines.count > 1 ? lines[1] : "", "\(url)/\(id)")
        XCTAssertTrue(answer.contains("<\(root) xmlns=\"http://cloudfront.amazonaws.com/doc/2009-12-01/\">"), answer)
        XCTAssertTrue(answer.contains("<Status>InProgress</Status>"), answer)
        XCTAssertNotNil(answer.range(of: "<DomainName>\(domainPrefix)[a-z0-9]{13}\\.sluice\\.localhost</DomainName>", options: .regularExpression), answer)
        XCTAssertTrue(answer.contains("<Origin>mystreamingbucket.s3.amazonaws.com</Origin>"), answer)
        XCTAssertTrue(answer.contains("<Comment>My comments</Comment>"), answer)
    }
}
