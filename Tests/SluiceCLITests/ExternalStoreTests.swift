import Foundation
import SluiceTestSupport
import XCTest

/// `sluice serve` and `sluice bucket` with the objects on an external S3 service
/// (`moto_server`): what is published there plays over RTMP, checked with rtmpdump, and
/// the AWS CLI sees the objects on the service itself.
final class ExternalStoreTests: XCTestCase {
    func testServeAndBucketCommandsOnAnExternalS3Service() async throws {
        try ExternalTool.require("rtmpdump")
        let aws = try ExternalTool.require("aws", install: "pip install awscli")
        let moto = try MotoServer.start()
        defer { moto.stop() }
        let data = NSTemporaryDirectory() + "sluice-external-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: data) }
        let awsEnvironment = ["AWS_ACCESS_KEY_ID": MotoServer.accessKey, "AWS_SECRET_ACCESS_KEY": MotoServer.secretKey,
                              "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"]
        let made = try await ExternalTool.run([aws, "--endpoint-url", moto.endpoint, "s3", "mb", "s3://external"], environment: awsEnvironment)
        XCTAssertEqual(made.status, 0, made.standardError)
        try """
            store:
              backend: s3
              endpoint: \(moto.endpoint)
              bucket: external
              prefix: site
              access-key: \(MotoServer.accessKey)
              secret-key: \(MotoServer.secretKey)
            """.write(toFile: data + "/sluice.yml", atomically: true, encoding: .utf8)

        let (process, port, http, logFile) = try await ServeCommandTests.startServer(data: data)
        defer { process.terminate() }
        let log = try String(contentsOfFile: logFile, encoding: .utf8)
        XCTAssertTrue(log.contains("objects are kept in bucket external/site/ at \(moto.endpoint)"), log)
        XCTAssertTrue(log.contains("added sample clip: media/sample.flv"), log)
        XCTAssertTrue(log.contains("the embedded S3 API is off"), log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: data + "/buckets/media/sample.flv"), "the sample goes to the external store")

        // The sample, fetched from the service into the cache on first play.
        let first = data + "/first.flv"
        let played = try await ExternalTool.run(["rtmpdump", "-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "sample.flv", "-o", first], timeout: 30)
        XCTAssertEqual(played.status, 0, played.standardError)
        XCTAssertGreaterThan(try FLVFile(path: first).mediaKeptByLibrtmp.count, 1000)

        // Published with `sluice bucket`: private refuses, public-read plays.
        let clip = data + "/clip.flv"
        XCTAssertEqual(try SluiceProcess.run(["bucket", "get", "media/sample.flv", clip, "--data", data]).status, 0)
        let put = try SluiceProcess.run(["bucket", "put", clip, "media/talks/clip.flv", "--data", data])
        XCTAssertEqual(put.status, 0, put.output)
        let refused = try await ExternalTool.run(["rtmpdump", "-z", "-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "talks/clip", "-o", "/dev/null"], timeout: 20)
        XCTAssertTrue(refused.standardError.contains("NetStream.Play.StreamNotFound"), refused.standardError)
        XCTAssertEqual(try SluiceProcess.run(["bucket", "acl", "media/talks/clip.flv", "public-read", "--data", data]).status, 0)
        let second = data + "/second.flv"
        let playedAgain = try await ExternalTool.run(["rtmpdump", "-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "talks/clip", "-o", second], timeout: 30)
        XCTAssertEqual(playedAgain.status, 0, playedAgain.standardError)
        XCTAssertEqual(try FLVFile(path: second).mediaKeptByLibrtmp.count, try FLVFile(path: first).mediaKeptByLibrtmp.count)

        // The objects really are on the service, under the prefix.
        let listed = try await ExternalTool.run([aws, "--endpoint-url", moto.endpoint, "s3", "ls", "--recursive", "s3://external/site/media/"],
                                                environment: awsEnvironment)
        XCTAssertTrue(listed.output.contains("site/media/sample.flv"), listed.output)
        XCTAssertTrue(listed.output.contains("site/media/talks/clip.flv"), listed.output)
        let listing = try SluiceProcess.run(["bucket", "ls", "media", "--recursive", "--data", data])
        XCTAssertTrue(listing.output.contains("public-read  talks/clip.flv"), listing.output)

        // The job runner publishes there too, and what it publishes plays at once.
        let song = try await TestMedia.shared.path(.mp3)
        try "input: \(song)\npreset: audio-only\nprefix: podcast\nasset: tone\n".write(toFile: data + "/job.yml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try SluiceProcess.run(["jobs", "submit", data + "/job.yml", "--data", data]).status, 0)
        let ran = try SluiceProcess.run(["jobs", "run", "--data", data])
        XCTAssertEqual(ran.status, 0, ran.output)
        XCTAssertTrue(try SluiceProcess.run(["jobs", "show", "1", "--data", data]).output.contains("job 1: done"), ran.output)
        let published = try await ExternalTool.run([aws, "--endpoint-url", moto.endpoint, "s3", "ls", "--recursive", "s3://external/site/media/podcast/"],
                                                   environment: awsEnvironment)
        for name in ["aac-128.flv", "aac-64.flv", "mp3-128.flv", "tone.json", "tone.f4m"] {
            XCTAssertTrue(published.output.contains("site/media/podcast/tone/" + name), "\(name) missing: \(published.output)")
        }
        let third = data + "/third.flv"
        let playedRendition = try await ExternalTool.run(["rtmpdump", "-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "podcast/tone/aac-64.flv", "-o", third],
                                                         timeout: 30)
        XCTAssertTrue(playedRendition.status == 0 || playedRendition.standardError.contains("Download may be incomplete"), playedRendition.standardError)
        XCTAssertGreaterThan(try FLVFile(path: third).mediaKeptByLibrtmp.count, 500, "30 s of AAC frames")

        // A basic distribution of the external bucket serves it over HTTP, through the
        // same cache: the object, a range of it, and CloudFront's refusals.
        let curl = try ExternalTool.require("curl")
        XCTAssertEqual(try SluiceProcess.run(["bucket", "put", clip, "media/talks/private.flv", "--data", data]).status, 0)
        let distribution = try SluiceProcess.run(["distribution", "create", "--origin", "media", "--basic", "--cname", "www.example.com",
                                                  "--data", data])
        XCTAssertEqual(distribution.status, 0, distribution.output)
        let deadline = Date().addingTimeInterval(10)
        while try SluiceProcess.run(["distribution", "ls", "--data", data]).output.contains("InProgress") {
            guard Date() < deadline else { return XCTFail("not deployed") }
            try await Task.sleep(for: .milliseconds(100))
        }
        func get(_ path: String, _ extra: [String] = []) async throws -> (status: String, body: Data) {
            let result = try await ExternalTool.run([curl, "-s", "-w", "\n%{http_code}", "-H", "Host: www.example.com", "http://127.0.0.1:\(http)\(path)"]
                                                    + extra)
            let output = result.standardOutput
            let cut = output.lastIndex(of: UInt8(ascii: "\n")) ?? output.endIndex
            return (String(decoding: output[cut...].dropFirst(), as: UTF8.self), Data(output[..<cut]))
        }
        let original = try Data(contentsOf: URL(fileURLWithPath: clip))
        let whole = try await get("/talks/clip.flv")
        XCTAssertEqual(whole.status, "200")
        XCTAssertEqual(whole.body, original)
        let part = try await get("/talks/clip.flv", ["-r", "100-199"])
        XCTAssertEqual(part.status, "206")
        XCTAssertEqual(part.body, original.subdata(in: 100..<200))
        let refusedPrivate = try await get("/talks/private.flv")
        XCTAssertEqual(refusedPrivate.status, "403")
        let missing = try await get("/talks/nothing.flv")
        XCTAssertEqual(missing.status, "404")
    }
}
