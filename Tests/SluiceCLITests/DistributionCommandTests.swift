import Foundation
import SluiceTestSupport
import XCTest

/// `sluice distribution` and RTMP routing by the tcUrl's host, with rtmpdump as the
/// player: a created distribution plays its bucket under its own names, and each of
/// CloudFront's four refusal codes comes in its situation.
final class DistributionCommandTests: XCTestCase {
    func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-dist-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func rtmpdump(port: Int, host: String, app: String = "cfx/st", play: String = "sample.flv", extra: [String] = []) async throws
        -> ExternalTool.Result {
        try await ExternalTool.run(["rtmpdump", "-z", "-r", "rtmp://127.0.0.1:\(port)/\(app)", "-t", "rtmp://\(host)/\(app)", "-y", play,
                                    "-o", "/dev/null"] + extra, timeout: 30)
    }

    func field(_ name: String, in text: String) throws -> String {
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix(name + ": ") }, text)
        return String(line.dropFirst(name.count + 2))
    }

    func waitUntilDeployed(_ id: String, data: String) async throws {
        let deadline = Date().addingTimeInterval(10)
        while !(try SluiceProcess.run(["distribution", "show", id, "--data", data]).output.contains("Deployed")) {
            guard Date() < deadline else { throw ExternalTool.Failure(description: "\(id) was not deployed within 10 s") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    func testDistributionsRouteByHostAndRefuseWithCloudFrontsCodes() async throws {
        try ExternalTool.require("rtmpdump")
        let data = try temporaryFolder()
        let (server, port, _, logFile) = try await ServeCommandTests.startServer(data: data, environment: ["SLUICE_DISTRIBUTIONS_DEFAULT": "off"])
        defer { server.terminate() }

        // No distribution claims the host, and the default one is off.
        let unclaimed = try await rtmpdump(port: port, host: "127.0.0.1")
        XCTAssertTrue(unclaimed.standardError.contains("DistributionNotFound"), unclaimed.standardError)

        let made = try SluiceProcess.run(["distribution", "create", "--origin", "media.s3.amazonaws.com", "--cname", "video.example.com",
                                          "--comment", "talks", "--data", data])
        XCTAssertEqual(made.status, 0, made.output)
        let id = String(try XCTUnwrap(made.output.split(separator: " ").first))
        let domain = try field("domain", in: made.output)
        XCTAssertNotNil(domain.range(of: #"^s[a-z0-9]{13}\.sluice\.localhost$"#, options: .regularExpression), domain)
        XCTAssertTrue(made.output.contains("InProgress"), made.output)
        try await waitUntilDeployed(id, data: data)

        // Its domain name and its CNAME (any case, any port) play the origin bucket.
        for host in [domain, "VIDEO.Example.com:1935"] {
            let played = try await rtmpdump(port: port, host: host)
            XCTAssertEqual(played.status, 0, "\(host): \(played.standardError)")
            XCTAssertTrue(played.standardError.contains("Download complete"), played.standardError)
        }
        let wrongApp = try await rtmpdump(port: port, host: domain, app: "vod")
        XCTAssertTrue(wrongApp.standardError.contains("InvalidInstance"), wrongApp.standardError)
        let badURI = try await rtmpdump(port: port, host: "bad host")
        XCTAssertTrue(badURI.standardError.contains("InvalidURI"), badURI.standardError)

        let basic = try SluiceProcess.run(["distribution", "create", "--origin", "media", "--basic", "--data", data])
        XCTAssertEqual(basic.status, 0, basic.output)
        let basicDomain = try field("domain", in: basic.output)
        XCTAssertTrue(basicDomain.hasPrefix("d"), basicDomain)
        try await waitUntilDeployed(String(try XCTUnwrap(basic.output.split(separator: " ").first)), data: data)
        let mismatch = try await rtmpdump(port: port, host: basicDomain)
        XCTAssertTrue(mismatch.standardError.contains("DistributionTypeMismatch"), mismatch.standardError)

        // The same CNAME cannot go to a second distribution; a missing bucket is no origin.
        let taken = try SluiceProcess.run(["distribution", "create", "--origin", "media", "--cname", "video.example.com", "--data", data])
        XCTAssertEqual(taken.status, 1, taken.output)
        XCTAssertTrue(taken.output.contains("CNAMEAlreadyExists"), taken.output)
        let nowhere = try SluiceProcess.run(["distribution", "create", "--origin", "nope", "--data", data])
        XCTAssertTrue(nowhere.output.contains("InvalidOrigin"), nowhere.output)

        // Disabling: a play under way finishes; a new connection is refused within seconds.
        let short = try await TestMedia.shared.path(.shortFLV)
        XCTAssertEqual(try SluiceProcess.run(["bucket", "put", short, "media/short.flv", "--acl", "public-read", "--data", data]).status, 0)
        let player = Process()
        player.executableURL = URL(fileURLWithPath: try ExternalTool.require("rtmpdump"))
        let played = data + "/played.flv"
        player.arguments = ["-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-t", "rtmp://\(domain)/cfx/st", "-y", "short.flv", "-b", "1000", "-o", played]
        player.standardOutput = FileHandle.nullDevice
        player.standardError = FileHandle.nullDevice
        try player.run()
        defer { if player.isRunning { player.terminate() } }
        let started = Date().addingTimeInterval(20)
        while !((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "").contains("play media/short.flv: playing from 0 ms, buffer 1000") {
            guard Date() < started else { return XCTFail("the paced play did not start") }
            try await Task.sleep(for: .milliseconds(50))
        }
        let refusedRemove = try SluiceProcess.run(["distribution", "rm", id, "--data", data])
        XCTAssertTrue(refusedRemove.output.contains("StreamingDistributionNotDisabled"), refusedRemove.output)
        XCTAssertEqual(try SluiceProcess.run(["distribution", "disable", id, "--data", data]).status, 0)
        try await waitUntilDeployed(id, data: data)
        let refused = try await rtmpdump(port: port, host: domain)
        XCTAssertTrue(refused.standardError.contains("DistributionNotFound"), refused.standardError)
        XCTAssertTrue(player.isRunning, "the play under way goes on")
        while player.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        XCTAssertEqual(player.terminationStatus, 0)
        XCTAssertEqual(try FLVFile(path: played).mediaKeptByLibrtmp.map(\.payload), try FLVFile(path: short).mediaKeptByLibrtmp.map(\.payload),
                       "the play under way got the whole file")

        let removed = try SluiceProcess.run(["distribution", "rm", id, "--data", data])
        XCTAssertEqual(removed.status, 0, removed.output)
        XCTAssertFalse(try SluiceProcess.run(["distribution", "ls", "--data", data]).output.contains(id))
    }

    /// A distribution with Logging on: its plays are written to the logging bucket as
    /// gzip files in CloudFront's streaming log format.
    func testAccessLogsInCloudFrontsStreamingFormat() async throws {
        try ExternalTool.require("rtmpdump")
        let gzip = try ExternalTool.require("gzip", install: "apt-get install -y gzip")
        let data = try temporaryFolder()
        let (server, port, _, _) = try await ServeCommandTests.startServer(data: data, environment: ["SLUICE_DISTRIBUTIONS_LOG_PERIOD": "1"])
        defer { server.terminate() }
        XCTAssertEqual(try SluiceProcess.run(["bucket", "mb", "logs", "--data", data]).status, 0)
        let made = try SluiceProcess.run(["distribution", "create", "--origin", "media", "--logging", "logs/rtmp/", "--data", data])
        XCTAssertEqual(made.status, 0, made.output)
        let id = String(try XCTUnwrap(made.output.split(separator: " ").first))
        let domain = try field("domain", in: made.output)
        try await waitUntilDeployed(id, data: data)

        let played = try await rtmpdump(port: port, host: domain, extra: ["-A", "2"])
        XCTAssertEqual(played.status, 0, played.standardError)
        let missing = try await rtmpdump(port: port, host: domain, play: "nothing-here.flv")
        XCTAssertTrue(missing.standardError.contains("StreamNotFound"), missing.standardError)

        var keys: [String] = []
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            keys = try SluiceProcess.run(["bucket", "ls", "logs", "--recursive", "--data", data]).output.split(separator: "\n")
                .compactMap { $0.split(separator: " ").last.map(String.init) }.filter { $0.hasPrefix("rtmp/") }
            var text: [String] = []
            for key in keys {
                let copy = data + "/" + key.replacingOccurrences(of: "/", with: "_")
                XCTAssertEqual(try SluiceProcess.run(["bucket", "get", "logs/" + key, copy, "--data", data]).status, 0)
                text.append(String(decoding: try await ExternalTool.run([gzip, "-dc", copy]).standardOutput, as: UTF8.self))
            }
            if text.joined().contains("\tdisconnect\t") && text.joined().components(separatedBy: "\tdisconnect\t").count >= 3 {
                keys = text
                break
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        let files = keys
        XCTAssertFalse(files.isEmpty, "no access log was written")
        var lines: [[String]] = []
        for file in files {
            let rows = file.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            XCTAssertEqual(rows.first, "#Version: 1.0")
            XCTAssertEqual(rows.dropFirst().first, "#Fields: date time x-edge-location c-ip x-event sc-bytes x-cf-status x-cf-client-id "
                           + "cs-uri-stem cs-uri-query c-referrer x-page-url c-user-agent x-sname x-sname-query x-file-ext x-sid")
            for row in rows.dropFirst(2) where !row.hasPrefix("#") {
                let fields = row.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                XCTAssertEqual(fields.count, 17, String(row))
                XCTAssertNotNil(fields[0].range(of: #"^\d{4}-\d\d-\d\d$"#, options: .regularExpression), String(row))
                XCTAssertNotNil(fields[1].range(of: #"^\d\d:\d\d:\d\d$"#, options: .regularExpression), String(row))
                XCTAssertEqual(fields[3], "127.0.0.1")
                XCTAssertNotNil(UInt64(fields[5]), String(row))
                XCTAssertEqual(fields[8], "rtmp://\(domain)/cfx/st")
                lines.append(fields)
            }
        }
        let events = lines.map { $0[4] }
        for event in ["connect", "play", "stop", "disconnect"] { XCTAssertTrue(events.contains(event), "\(event) in \(events)") }
        let play = try XCTUnwrap(lines.first { $0[4] == "play" && $0[13] == "sample.flv" }, "\(lines)")
        XCTAssertEqual(play[6], "OK")
        XCTAssertEqual(play[15], "flv")
        let refused = try XCTUnwrap(lines.first { $0[4] == "play" && $0[13] == "nothing-here.flv" }, "\(lines)")
        XCTAssertEqual(refused[6], "NetStream.Play.StreamNotFound")
        let disconnect = try XCTUnwrap(lines.first { $0[4] == "disconnect" && $0[7] == play[7] }, "\(lines)")
        XCTAssertGreaterThan(UInt64(disconnect[5]) ?? 0, 400_000, "sc-bytes counts what the play sent")
    }
}
