import Foundation
import SluiceTestSupport
import XCTest

/// A basic distribution serves its bucket's public-read objects over HTTP by Host, as
/// curl sees it: Range, 416, HEAD, 304, 403 for private, 404 for missing; a streaming
/// distribution's host answers only crossdomain.xml.
final class BasicDistributionTests: XCTestCase {
    func curl(_ port: Int, host: String, path: String, _ extra: [String] = []) async throws -> (status: String, headers: String, body: Data) {
        let headerFile = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-curl-\(UUID().uuidString)").path
        let result = try await ExternalTool.run(["curl", "-s", "-D", headerFile, "-H", "Host: \(host)", "http://127.0.0.1:\(port)\(path)"] + extra)
        let headers = (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? ""
        let status = headers.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
        return (status, headers, result.standardOutput)
    }

    func testObjectsOverHTTPByHost() async throws {
        try ExternalTool.require("curl")
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-basic-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let (server, _, http, _) = try await ServeCommandTests.startServer(data: data, environment: ["SLUICE_DISTRIBUTIONS_LOG_PERIOD": "1"])
        XCTAssertEqual(try SluiceProcess.run(["bucket", "mb", "logs", "--data", data]).status, 0)
        defer { server.terminate() }
        let sample = try Data(contentsOf: URL(fileURLWithPath: data + "/buckets/media/sample.flv"))
        try Data("<h1>talks</h1>\n".utf8).write(to: URL(fileURLWithPath: data + "/index.html"))
        XCTAssertEqual(try SluiceProcess.run(["bucket", "put", data + "/index.html", "media/index.html", "--acl", "public-read", "--data", data]).status, 0)
        XCTAssertEqual(try SluiceProcess.run(["bucket", "put", data + "/index.html", "media/private.html", "--data", data]).status, 0)
        let made = try SluiceProcess.run(["distribution", "create", "--origin", "media", "--basic", "--cname", "www.example.com",
                                          "--default-root-object", "index.html", "--logging", "logs/web/", "--data", data])
        XCTAssertEqual(made.status, 0, made.output)
        let streaming = try SluiceProcess.run(["distribution", "create", "--origin", "media", "--cname", "video.example.com", "--data", data])
        XCTAssertEqual(streaming.status, 0, streaming.output)
        let deadline = Date().addingTimeInterval(10)
        while try SluiceProcess.run(["distribution", "ls", "--data", data]).output.contains("InProgress") {
            guard Date() < deadline else { return XCTFail("not deployed") }
            try await Task.sleep(for: .milliseconds(100))
        }

        let whole = try await curl(http, host: "www.example.com:\(http)", path: "/sample.flv")
        XCTAssertEqual(whole.status, "200", whole.headers)
        XCTAssertEqual(whole.body, sample)
        XCTAssertTrue(whole.headers.lowercased().contains("content-type: video/x-flv"), whole.headers)
        let etag = try XCTUnwrap(whole.headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("etag:") }?.dropFirst(6))

        let part = try await curl(http, host: "www.example.com", path: "/sample.flv", ["-r", "0-99"])
        XCTAssertEqual(part.status, "206")
        XCTAssertEqual(part.body, sample.prefix(100))
        XCTAssertTrue(part.headers.contains("Content-Range: bytes 0-99/\(sample.count)"), part.headers)
        let beyond = try await curl(http, host: "www.example.com", path: "/sample.flv", ["-r", "\(sample.count)-"])
        XCTAssertEqual(beyond.status, "416")
        XCTAssertTrue(beyond.headers.contains("Content-Range: bytes */\(sample.count)"), beyond.headers)
        let head = try await curl(http, host: "www.example.com", path: "/sample.flv", ["-I"])
        XCTAssertEqual(head.status, "200")
        XCTAssertTrue(head.headers.contains("Content-Length: \(sample.count)"), head.headers)
        let cached = try await curl(http, host: "www.example.com", path: "/sample.flv", ["-H", "If-None-Match: \(etag)"])
        XCTAssertEqual(cached.status, "304", cached.headers)
        XCTAssertTrue(cached.body.isEmpty)

        let root = try await curl(http, host: "www.example.com", path: "/")
        XCTAssertEqual(String(decoding: root.body, as: UTF8.self), "<h1>talks</h1>\n")
        let secret = try await curl(http, host: "www.example.com", path: "/private.html")
        XCTAssertEqual(secret.status, "403")
        XCTAssertTrue(String(decoding: secret.body, as: UTF8.self).contains("<Code>AccessDenied</Code>"))
        let missing = try await curl(http, host: "www.example.com", path: "/nothing.flv")
        XCTAssertEqual(missing.status, "404")

        // Changes made beside the running server show within seconds (what it looked up
        // is remembered for one): an ACL, and a body replaced under the same key.
        XCTAssertEqual(try SluiceProcess.run(["bucket", "acl", "media/private.html", "public-read", "--data", data]).status, 0)
        try Data("<h1>new</h1>\n".utf8).write(to: URL(fileURLWithPath: data + "/index.html"))
        XCTAssertEqual(try SluiceProcess.run(["bucket", "put", data + "/index.html", "media/index.html", "--acl", "public-read", "--data", data]).status, 0)
        var opened = "", newRoot = "", newPage = ""
        let changeDeadline = Date().addingTimeInterval(5)
        while (opened != "200" || newRoot != "<h1>new</h1>\n" || newPage != newRoot) && Date() < changeDeadline {
            opened = try await curl(http, host: "www.example.com", path: "/private.html").status
            newRoot = String(decoding: try await curl(http, host: "www.example.com", path: "/").body, as: UTF8.self)
            // Asked by name, a small object is answered from what was remembered of it.
            newPage = String(decoding: try await curl(http, host: "www.example.com", path: "/index.html").body, as: UTF8.self)
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertEqual(opened, "200")
        XCTAssertEqual(newRoot, "<h1>new</h1>\n")
        XCTAssertEqual(newPage, "<h1>new</h1>\n")

        // FLV pseudo-streaming, as nginx's flv module does it: the header, then the file
        // from the keyframe position the player took from the file's own index.
        let positions = try FLVFile(path: data + "/buckets/media/sample.flv").keyframeFilePositions
        let seekTo = try XCTUnwrap(positions.dropFirst(2).first, "\(positions)")
        let seeked = try await curl(http, host: "www.example.com", path: "/sample.flv?start=\(seekTo)")
        XCTAssertEqual(seeked.status, "200")
        XCTAssertEqual(seeked.body, Data([0x46, 0x4C, 0x56, 0x01, 0x05, 0, 0, 0, 0x09, 0, 0, 0, 0]) + sample.dropFirst(Int(seekTo)))
        // What a Flash player gets is an FLV whose first tag is the keyframe it asked for
        // (it keeps the decoder configuration it already has, so ffprobe cannot open it).
        let tail = data + "/seeked.flv"
        try seeked.body.write(to: URL(fileURLWithPath: tail))
        let first = try XCTUnwrap(try FLVFile(path: tail).tags.first)
        XCTAssertEqual(first.type, .video)
        XCTAssertEqual(first.payload.first.map { $0 >> 4 }, 1, "a keyframe")

        // The bucket's own policy: a basic distribution serves it; a streaming
        // distribution's host ignores it for the fixed allow-all one, and serves nothing
        // else over HTTP.
        let own = "<?xml version=\"1.0\"?><cross-domain-policy><allow-access-from domain=\"www.example.com\"/></cross-domain-policy>\n"
        try Data(own.utf8).write(to: URL(fileURLWithPath: data + "/crossdomain.xml"))
        XCTAssertEqual(try SluiceProcess.run(["bucket", "put", data + "/crossdomain.xml", "media/crossdomain.xml", "--acl", "public-read",
                                              "--data", data]).status, 0)
        let bucketPolicy = try await curl(http, host: "www.example.com", path: "/crossdomain.xml")
        XCTAssertEqual(bucketPolicy.status, "200")
        XCTAssertEqual(String(decoding: bucketPolicy.body, as: UTF8.self), own)
        let policy = try await curl(http, host: "video.example.com", path: "/crossdomain.xml")
        XCTAssertEqual(policy.status, "200")
        XCTAssertTrue(String(decoding: policy.body, as: UTF8.self).contains("<allow-access-from domain=\"*\""))
        let mismatch = try await curl(http, host: "video.example.com", path: "/sample.flv")
        XCTAssertEqual(mismatch.status, "403")
        XCTAssertTrue(String(decoding: mismatch.body, as: UTF8.self).contains("DistributionTypeMismatch"))

        // Its requests, in CloudFront's standard log format, gzipped into the logging bucket.
        let gzip = try ExternalTool.require("gzip", install: "apt-get install -y gzip")
        var text = ""
        let logDeadline = Date().addingTimeInterval(30)
        while !text.contains("\t206\t"), Date() < logDeadline {
            try await Task.sleep(for: .milliseconds(300))
            text = ""
            let keys = try SluiceProcess.run(["bucket", "ls", "logs", "--recursive", "--data", data]).output.split(separator: "\n")
                .compactMap { $0.split(separator: " ").last.map(String.init) }.filter { $0.hasPrefix("web/") && $0.hasSuffix(".gz") }
            for key in keys {
                let copy = data + "/" + key.replacingOccurrences(of: "/", with: "_")
                _ = try SluiceProcess.run(["bucket", "get", "logs/" + key, copy, "--data", data])
                text += String(decoding: try await ExternalTool.run([gzip, "-dc", copy]).standardOutput, as: UTF8.self)
            }
        }
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("#Fields: " + ["date", "time", "x-edge-location", "sc-bytes", "c-ip", "cs-method", "cs(Host)", "cs-uri-stem",
                                                     "sc-status", "cs(Referer)", "cs(User-Agent)", "cs-uri-query", "cs(Cookie)", "x-edge-result-type",
                                                     "x-edge-request-id", "x-host-header", "cs-protocol", "cs-bytes", "time-taken", "x-forwarded-for",
                                                     "ssl-protocol", "ssl-cipher", "x-edge-response-result-type", "cs-protocol-version", "fle-status",
                                                     "fle-encrypted-fields", "c-port", "time-to-first-byte", "x-edge-detailed-result-type",
                                                     "sc-content-type", "sc-content-len", "sc-range-start", "sc-range-end"].joined(separator: " ")), text)
        let rows = lines.filter { !$0.hasPrefix("#") }.map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertTrue(rows.allSatisfy { $0.count == 33 }, text)
        let ranged = try XCTUnwrap(rows.first { $0[8] == "206" }, text)
        XCTAssertEqual(ranged[3], "100")
        XCTAssertEqual(ranged[5], "GET")
        XCTAssertEqual(ranged[7], "/sample.flv")
        XCTAssertEqual(ranged[31], "0")
        XCTAssertEqual(ranged[32], "99")
        XCTAssertEqual(rows.first { $0[8] == "403" }?[13], "Error", text)
    }

    /// The use a basic distribution was for: the player page itself. Headless Chromium
    /// (Debian's) loads it by the distribution's CNAME, and its MP4 video plays: the
    /// video's currentTime advances.
    func testAPageAndItsVideoPlayInHeadlessChromium() async throws {
        try ExternalTool.require("chromium", install: "apt-get install -y chromium")
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-page-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let (server, _, http, _) = try await ServeCommandTests.startServer(data: data)
        defer { server.terminate() }
        let video = try await TestMedia.shared.path(.mp4MoovAtStart)
        let page = """
            <!doctype html><html><head><title>talks</title></head>
            <body><video src="talks/clip.mp4" muted autoplay playsinline></video></body></html>
            """
        try Data(page.utf8).write(to: URL(fileURLWithPath: data + "/index.html"))
        for (file, key) in [(video, "media/talks/clip.mp4"), (data + "/index.html", "media/index.html")] {
            XCTAssertEqual(try SluiceProcess.run(["bucket", "put", file, key, "--acl", "public-read", "--data", data]).status, 0)
        }
        let made = try SluiceProcess.run(["distribution", "create", "--origin", "media", "--basic", "--cname", "www.example.com",
                                          "--default-root-object", "index.html", "--data", data])
        XCTAssertEqual(made.status, 0, made.output)
        let deadline = Date().addingTimeInterval(10)
        while try SluiceProcess.run(["distribution", "ls", "--data", data]).output.contains("InProgress") {
            guard Date() < deadline else { return XCTFail("not deployed") }
            try await Task.sleep(for: .milliseconds(100))
        }

        let probe = try await ExternalTool.run([ReadmeCommandsTests.repository + "/scripts/page-probe", "http://www.example.com:\(http)/",
                                                "--seconds", "4", "--map", "www.example.com"], timeout: 60)
        XCTAssertEqual(probe.status, 0, probe.standardError)
        let samples = (try JSONSerialization.jsonObject(with: probe.standardOutput) as? [Any])?.compactMap { $0 as? [String: Any] } ?? []
        let times = samples.compactMap { $0["time"] as? Double }
        XCTAssertTrue(samples.allSatisfy { $0["error"] is NSNull }, "\(samples)")
        XCTAssertGreaterThan(times.count, 3, probe.output)
        XCTAssertGreaterThan((times.last ?? 0) - (times.first ?? 0), 1, "currentTime did not advance: \(times)")
    }
}
