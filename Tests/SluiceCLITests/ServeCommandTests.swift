import Foundation
import SluiceTestSupport
import XCTest

/// Runs the built `sluice` beside the test bundle (one `swift build` makes both).
enum SluiceProcess {
    static var executable: String {
        let folder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        return folder.appendingPathComponent("sluice").path
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SLUICE_") }
        merged.merge(environment) { $1 }
        process.environment = merged
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// The `sluice` executable as a user runs it.
final class ServeCommandTests: XCTestCase {
    var executable: String { SluiceProcess.executable }

    func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        try SluiceProcess.run(arguments, environment: environment)
    }

    func testSettingsPrecedenceFlagsThenEnvironmentThenFileThenDefaults() throws {
        let data = try temporaryFolder()
        try "rtmp:\n  port: 2001\n  chunk-size: 8192\nlog-level: debug\n".write(toFile: data + "/sluice.yml", atomically: true, encoding: .utf8)
        let fileOnly = try run(["serve", "--data", data, "--print-settings"])
        XCTAssertEqual(fileOnly.status, 0, fileOnly.output)
        XCTAssertTrue(fileOnly.output.contains("rtmp.port = 2001 (\(data)/sluice.yml)"), fileOnly.output)
        XCTAssertTrue(fileOnly.output.contains("rtmp.max-connections = 2000 (default)"), fileOnly.output)

        let environment = try run(["serve", "--data", data, "--print-settings"], environment: ["SLUICE_RTMP_PORT": "2002"])
        XCTAssertTrue(environment.output.contains("rtmp.port = 2002 (environment variable SLUICE_RTMP_PORT)"), environment.output)
        XCTAssertTrue(environment.output.contains("rtmp.chunk-size = 8192 ("), environment.output)

        let flag = try run(["serve", "--data", data, "--rtmp-port", "2003", "--print-settings"], environment: ["SLUICE_RTMP_PORT": "2002"])
        XCTAssertTrue(flag.output.contains("rtmp.port = 2003 (flag --rtmp-port)"), flag.output)

        // SLUICE_DATA chooses the folder when --data is absent.
        let viaEnvironment = try run(["serve", "--print-settings"], environment: ["SLUICE_DATA": data])
        XCTAssertTrue(viaEnvironment.output.contains("rtmp.port = 2001"), viaEnvironment.output)
    }

    func testBadSettingsAreExplained() throws {
        let data = try temporaryFolder()
        try "rtmp:\n  prot: 2001\n".write(toFile: data + "/sluice.yml", atomically: true, encoding: .utf8)
        let unknown = try run(["serve", "--data", data])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.output.contains("unknown setting 'rtmp.prot'"), unknown.output)

        try FileManager.default.removeItem(atPath: data + "/sluice.yml")
        let badNumber = try run(["serve", "--data", data], environment: ["SLUICE_RTMP_PORT": "abc"])
        XCTAssertNotEqual(badNumber.status, 0)
        XCTAssertTrue(badNumber.output.contains("SLUICE_RTMP_PORT"), badNumber.output)

        let help = try run(["serve", "--help"])
        XCTAssertTrue(help.output.contains("rtmpdump -r rtmp://127.0.0.1:1935/cfx/st -y sample.flv"), help.output)
    }

    func testFirstStartServesTheSampleAndSIGTERMStopsCleanly() async throws {
        try ExternalTool.require("rtmpdump")
        let data = try temporaryFolder()
        let (process, port, httpPort, logFile) = try await Self.startServer(data: data)
        defer { if process.isRunning { process.terminate() } }
        XCTAssertTrue(FileManager.default.fileExists(atPath: data + "/buckets/media/sample.flv"))

        let output = data + "/out.flv"
        let result = try await ExternalTool.run(["rtmpdump", "-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "sample.flv", "-o", output], timeout: 30)
        XCTAssertEqual(result.status, 0, result.standardError)
        XCTAssertTrue(result.standardError.contains("Download complete"), result.standardError)
        XCTAssertGreaterThan(try FLVFile(path: output).mediaKeptByLibrtmp.count, 1000)

        // crossdomain.xml on the public HTTP listener.
        try ExternalTool.require("curl")
        let policy = try await ExternalTool.run(["curl", "-s", "-i", "http://127.0.0.1:\(httpPort)/crossdomain.xml"])
        XCTAssertTrue(policy.output.hasPrefix("HTTP/1.1 200 OK"), policy.output)
        XCTAssertTrue(policy.output.contains("<allow-access-from domain=\"*\""), policy.output)

        // A real-time player is mid-stream when SIGTERM arrives: it is told, and the server exits.
        let player = try await RTMPTestClient.open(port: port)
        _ = try await player.connect(tcUrl: "rtmp://127.0.0.1:\(port)/cfx/st")
        let stream = try await player.createStream()
        try await player.setBufferLength(streamID: stream, milliseconds: 500)
        try await player.play(streamID: stream, "sample")
        try await player.waitForStatus("NetStream.Play.Start")
        let stopped = Date()
        process.terminate()
        try await player.waitForStatus("NetStream.Play.Stop", timeout: 10)
        try await player.waitForClose(timeout: 10)
        while process.isRunning && Date().timeIntervalSince(stopped) < 10 {
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTAssertFalse(process.isRunning)
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertLessThan(Date().timeIntervalSince(stopped), 5)
        let log = try String(contentsOfFile: logFile, encoding: .utf8)
        XCTAssertTrue(log.contains("received SIGTERM; shutting down"), log)
        XCTAssertTrue(log.contains("stopped"), log)
    }

    /// The first signal waits for plays (up to the grace period); a second stops at once.
    func testASecondSignalStopsAtOnce() async throws {
        let data = try temporaryFolder()
        let (process, port, _, logFile) = try await Self.startServer(data: data, shutdownGrace: 60)
        defer { if process.isRunning { process.terminate() } }
        let player = try await RTMPTestClient.open(port: port)
        _ = try await player.connect(tcUrl: "rtmp://127.0.0.1:\(port)/cfx/st")
        let stream = try await player.createStream()
        try await player.setBufferLength(streamID: stream, milliseconds: 500)
        try await player.play(streamID: stream, "sample")
        try await player.waitForStatus("NetStream.Play.Start")
        process.interrupt()
        try await Task.sleep(for: .seconds(1))
        XCTAssertTrue(process.isRunning, "the first signal waits for the play")
        let second = Date()
        process.interrupt()
        while process.isRunning && Date().timeIntervalSince(second) < 10 {
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTAssertFalse(process.isRunning)
        XCTAssertLessThan(Date().timeIntervalSince(second), 3)
        XCTAssertEqual(process.terminationStatus, 130)
        let log = try String(contentsOfFile: logFile, encoding: .utf8)
        XCTAssertTrue(log.contains("received SIGINT; shutting down"), log)
    }

    /// Starts `sluice serve` on free ports; returns the process, the RTMP and HTTP ports
    /// (read from its log) and the log file.
    static func startServer(data: String, environment: [String: String] = [:], shutdownGrace: Double = 1) async throws -> (Process, Int, Int, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: SluiceProcess.executable)
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SLUICE_") }.merging(environment) { $1 }
        }
        process.arguments = ["serve", "--control-port", "0", "--data", data, "--rtmp-host", "127.0.0.1", "--rtmp-port", "0", "--http-port", "0", "--s3-port", "0", "--shutdown-grace", String(shutdownGrace)]
        let logFile = data + "/serve.log"
        FileManager.default.createFile(atPath: logFile, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        try process.run()
        var rtmpPort: Int?
        var httpPort: Int?
        let deadline = Date().addingTimeInterval(15)
        var ready = false
        while (rtmpPort == nil || httpPort == nil || !ready) && Date() < deadline {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            rtmpPort = port(after: "RTMP listening on 127.0.0.1:", in: log)
            httpPort = port(after: "HTTP listening on 127.0.0.1:", in: log)
            ready = log.contains("ready: ")
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let rtmpPort, let httpPort else {
            process.terminate()
            throw ExternalTool.Failure(description: "sluice serve did not start: " + ((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""))
        }
        return (process, rtmpPort, httpPort, logFile)
    }

    func testBucketCommandsChangeWhatTheRunningServerStreams() async throws {
        try ExternalTool.require("rtmpdump")
        let data = try temporaryFolder()
        let (process, port, _, logFile) = try await Self.startServer(data: data)
        defer { process.terminate() }
        let sample = data + "/buckets/media/sample.flv"
        let put = try run(["bucket", "put", sample, "media/talks/private.flv", "--data", data])
        XCTAssertEqual(put.status, 0, put.output)
        XCTAssertTrue(put.output.contains("private"), put.output)
        let refused = try await ExternalTool.run(["rtmpdump", "-z", "-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "talks/private.flv", "-o", "/dev/null"], timeout: 20)
        XCTAssertTrue(refused.standardError.contains("NetStream.Play.StreamNotFound"), "a private object must not stream: \(refused.standardError)")

        XCTAssertEqual(try run(["bucket", "acl", "media/talks/private.flv", "public-read", "--data", data]).status, 0)
        let output = data + "/out.flv"
        let played = try await ExternalTool.run(["rtmpdump", "-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "talks/private.flv", "-o", output], timeout: 30)
        XCTAssertEqual(played.status, 0, played.standardError)
        XCTAssertGreaterThan(try FLVFile(path: output).mediaKeptByLibrtmp.count, 1000)

        let listing = try run(["bucket", "ls", "media", "--recursive", "--data", data])
        XCTAssertTrue(listing.output.contains("public-read  sample.flv"), listing.output)
        XCTAssertTrue(listing.output.contains("public-read  talks/private.flv"), listing.output)
        XCTAssertEqual(try run(["bucket", "rm", "media/talks/private.flv", "--data", data]).status, 0)
        let gone = try await ExternalTool.run(["rtmpdump", "-z", "-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "talks/private.flv", "-o", "/dev/null"], timeout: 20)
        XCTAssertTrue(gone.standardError.contains("NetStream.Play.StreamNotFound"), gone.standardError)
        let missing = try run(["bucket", "rm", "media/nope.flv", "--data", data])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.output.contains("NoSuchKey"), missing.output)

        // One line per play with its outcome: private and missing are told apart in the
        // log (the player hears StreamNotFound for both), and a finished play says how much.
        let log = try String(contentsOfFile: logFile, encoding: .utf8)
        XCTAssertTrue(log.contains("play media/talks/private.flv: private (talks/private.flv is not public-read) "
                                   + "(NetStream.Play.StreamNotFound), client 127.0.0.1"), log)
        XCTAssertTrue(log.contains("play media/talks/private.flv: not found (NetStream.Play.StreamNotFound), client 127.0.0.1"), log)
        XCTAssertTrue(log.contains("play media/talks/private.flv: playing from 0 ms, buffer 1000 ms, client 127.0.0.1"), log)
        let ended = log.split(separator: "\n").first { $0.contains("play media/talks/private.flv: complete") || $0.contains("play media/talks/private.flv: ended by disconnect") }
        XCTAssertNotNil(ended, log)
        XCTAssertTrue(ended?.contains(" bytes in ") == true && ended?.hasSuffix(", client 127.0.0.1") == true, "\(ended ?? "")")
    }

    /// `log-format: json` (here SLUICE_LOG_FORMAT) writes one JSON object per line, with
    /// the metadata as fields, for log shippers.
    func testJSONLogFormatForLogShippers() async throws {
        try ExternalTool.require("rtmpdump")
        let data = try temporaryFolder()
        let (process, port, _, logFile) = try await Self.startServer(data: data, environment: ["SLUICE_LOG_FORMAT": "json"])
        let played = try await ExternalTool.run(["rtmpdump", "-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "sample.flv", "-o", "/dev/null"],
                                                timeout: 30)
        XCTAssertEqual(played.status, 0, played.standardError)
        process.terminate()
        process.waitUntilExit()
        let lines = try String(contentsOfFile: logFile, encoding: .utf8).split(separator: "\n")
        XCTAssertGreaterThan(lines.count, 5)
        var objects: [[String: Any]] = []
        for line in lines {
            let object = try XCTUnwrap(try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
            XCTAssertNotNil(object["time"] as? String, "\(line)")
            XCTAssertNotNil(object["level"] as? String, "\(line)")
            objects.append(object)
        }
        let play = try XCTUnwrap(objects.first { ($0["message"] as? String)?.hasPrefix("play media/sample.flv: playing") == true }, "\(lines)")
        XCTAssertEqual(play["client"] as? String, "127.0.0.1")
        XCTAssertEqual(play["level"] as? String, "info")
        XCTAssertTrue(objects.contains { ($0["message"] as? String) == "stopped" }, "\(lines)")
    }

    /// `sluice serve` makes an S3 key pair on first start and prints it; with it the AWS
    /// CLI uploads, and what it makes public-read plays over RTMP at once.
    func testS3APIWithTheFirstStartKeyPair() async throws {
        try ExternalTool.require("rtmpdump")
        let aws = try ExternalTool.require("aws", install: "pip install awscli")
        let data = try temporaryFolder()
        let (process, port, _, logFile) = try await Self.startServer(data: data)
        defer { process.terminate() }
        let log = try String(contentsOfFile: logFile, encoding: .utf8)
        let s3Port = try XCTUnwrap(Self.port(after: "S3 API listening on 127.0.0.1:", in: log), log)
        func printed(_ label: String) -> String? {
            guard let range = log.range(of: label) else { return nil }
            return String(log[range.upperBound...].prefix { !$0.isWhitespace })
        }
        let accessKey = try XCTUnwrap(printed("access key: "), log)
        let secretKey = try XCTUnwrap(printed("secret key: "), log)
        let attributes = try FileManager.default.attributesOfItem(atPath: data + "/s3-credentials.yml")
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)

        let environment = ["AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey, "AWS_DEFAULT_REGION": "us-east-1",
                           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"]
        let endpoint = ["--endpoint-url", "http://127.0.0.1:\(s3Port)"]
        let upload = try await ExternalTool.run([aws] + endpoint + ["s3", "cp", data + "/buckets/media/sample.flv", "s3://media/uploads/clip.flv"],
                                                environment: environment)
        XCTAssertEqual(upload.status, 0, upload.standardError)
        let refused = try await ExternalTool.run(["rtmpdump", "-z", "-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "uploads/clip", "-o", "/dev/null"], timeout: 20)
        XCTAssertTrue(refused.standardError.contains("NetStream.Play.StreamNotFound"), "uploads are private: \(refused.standardError)")
        let publish = try await ExternalTool.run([aws] + endpoint + ["s3api", "put-object-acl", "--bucket", "media", "--key", "uploads/clip.flv",
                                                                     "--acl", "public-read"], environment: environment)
        XCTAssertEqual(publish.status, 0, publish.standardError)
        let anonymous = try await ExternalTool.run([aws] + endpoint + ["--no-sign-request", "s3api", "head-object", "--bucket", "media",
                                                                       "--key", "secret.flv"], environment: environment)
        XCTAssertNotEqual(anonymous.status, 0)
        // One line per S3 request at info, with the reason of a refusal that the anonymous
        // client itself is not told.
        // The server logs a request once its answer is written: the client may be faster.
        var requests = ""
        let logged = Date().addingTimeInterval(10)
        repeat {
            requests = try String(contentsOfFile: logFile, encoding: .utf8)
            if requests.contains("PutObjectAcl 200") && requests.contains("HeadObject 403") { break }
            try await Task.sleep(for: .milliseconds(100))
        } while Date() < logged
        XCTAssertNotNil(requests.range(of: #"info sluice: .*S3 127\.0\.0\.1 PUT /media/uploads/clip\.flv PutObject 200 0 bytes [0-9.]+ ms id=[0-9A-F]{16}"#,
                                       options: .regularExpression), requests)
        XCTAssertTrue(requests.contains("S3 127.0.0.1 PUT /media/uploads/clip.flv PutObjectAcl 200 0 bytes"), requests)
        XCTAssertTrue(requests.contains("S3 127.0.0.1 HEAD /media/secret.flv HeadObject 403 0 bytes"), requests)
        XCTAssertTrue(requests.contains("AccessDenied: an unsigned request lacks READ on bucket media, and media/secret.flv does not exist"), requests)
        let output = data + "/clip.flv"
        let played = try await ExternalTool.run(["rtmpdump", "-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "uploads/clip", "-o", output], timeout: 30)
        XCTAssertEqual(played.status, 0, played.standardError)
        XCTAssertGreaterThan(try FLVFile(path: output).mediaKeptByLibrtmp.count, 1000)

        // The second start reuses the pair and does not print the secret again.
        process.terminate()
        process.waitUntilExit()
        let (again, _, _, secondLog) = try await Self.startServer(data: data)
        defer { again.terminate() }
        let text = try String(contentsOfFile: secondLog, encoding: .utf8)
        XCTAssertFalse(text.contains(secretKey), text)
        XCTAssertTrue(text.contains("users: admin"), text)
    }

    static func port(after marker: String, in log: String) -> Int? {
        guard let range = log.range(of: marker) else { return nil }
        return Int(log[range.upperBound...].prefix { $0.isNumber })
    }
}

/// `sluice presets`.
final class PresetsCommandTests: XCTestCase {
    /// The server's executable maps no FFmpeg library; `encode` and `presets` reach the
    /// encoder executable with their own help intact.
    func testOnlyTheEncoderLinksLibav() async throws {
        try ExternalTool.require("ldd", install: "apt-get install -y libc-bin")
        let sluice = SluiceProcess.executable
        let transcoder = URL(fileURLWithPath: sluice).deletingLastPathComponent().appendingPathComponent("sluice-transcode").path
        let server = try await ExternalTool.run(["ldd", sluice])
        XCTAssertEqual(server.status, 0, server.standardError)
        XCTAssertTrue(server.output.contains("libsqlite3"), server.output)
        for library in ["libavformat", "libavcodec", "libswscale", "libswresample", "libavutil"] {
            XCTAssertFalse(server.output.contains(library), "sluice links \(library)")
        }
        let encoder = try await ExternalTool.run(["ldd", transcoder])
        XCTAssertTrue(encoder.output.contains("libavcodec"), encoder.output)

        let help = try SluiceProcess.run(["encode", "--help"])
        XCTAssertEqual(help.status, 0, help.output)
        XCTAssertTrue(help.output.contains("USAGE: sluice encode <inputs> ..."), help.output)
        XCTAssertTrue(help.output.contains("--preset <preset>"), help.output)
        let presetsHelp = try SluiceProcess.run(["presets", "--help"])
        XCTAssertTrue(presetsHelp.output.contains("explain"), presetsHelp.output)
        let top = try SluiceProcess.run(["--help"])
        XCTAssertTrue(top.output.contains("encode") && !top.output.contains("worker"), top.output)
    }

    func testListAndExplain() async throws {
        let list = try SluiceProcess.run(["presets", "list"])
        XCTAssertEqual(list.status, 0, list.output)
        for name in ["dynamic-streaming:", "mobile:", "audio-only:"] { XCTAssertTrue(list.output.contains(name), list.output) }

        let input = try await TestMedia.shared.path(.mp4MoovAtEnd)
        let text = try SluiceProcess.run(["presets", "explain", "mobile", "--input", input])
        XCTAssertEqual(text.status, 0, text.output)
        XCTAssertTrue(text.output.contains("240p  426x240"), text.output)
        XCTAssertTrue(text.output.contains("Kush gauge 426×240×25 fps×2×0.07"), text.output)
        XCTAssertTrue(text.output.contains("360p: dropped: 360 lines is above the source's 240: never upscale"), text.output)

        let json = try SluiceProcess.run(["presets", "explain", "mobile", "--input", input, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        let rungs = object?["rungs"] as? [[String: Any]] ?? []
        XCTAssertEqual(rungs.compactMap { $0["name"] as? String }, ["240p", "144p"])
        XCTAssertEqual(rungs.first?["videoBitrate"] as? Int, 252)  // 75% of the 400 kbit/s tier less 48 kbit/s audio

        let missing = try SluiceProcess.run(["presets", "explain", "mobile", "--input", "/nonexistent.mp4"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.output.contains("Error: /nonexistent.mp4 does not exist"), missing.output)
        let badPreset = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-bad-\(UUID().uuidString).yml").path
        try "name: x\nrungs:\n  - name: a\n    tier: 100\n    heigth: 200\n".write(toFile: badPreset, atomically: true, encoding: .utf8)
        let refused = try SluiceProcess.run(["presets", "explain", badPreset, "--input", input])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.output.contains("\(badPreset):5: rung 1: unknown key 'heigth'"), refused.output)
    }
}

/// `sluice encode`.
final class EncodeCommandTests: XCTestCase {
    func testEncodeMatchesExplainAndReportsFailures() async throws {
        try ExternalTool.require("ffprobe")
        let input = try await TestMedia.shared.path(.source480)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-cli-encode-\(UUID().uuidString)").path
        let bad = out + "-inputs/broken.mp4"
        try FileManager.default.createDirectory(atPath: out + "-inputs", withIntermediateDirectories: true)
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: bad))

        let explained = try SluiceProcess.run(["presets", "explain", "dynamic-streaming", "--input", input, "--json"])
        let plan = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(explained.output.utf8)) as? [String: Any])
        let plannedRungs = plan["rungs"] as? [[String: Any]] ?? []

        let result = try SluiceProcess.run(["encode", input, bad, "--out", out, "--json"])
        XCTAssertEqual(result.status, 1, "one input failed: \(result.output)")
        let lines = result.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(lines.compactMap { $0["status"] as? String }, ["done", "failed"], result.output)
        XCTAssertTrue((lines.last?["reason"] as? String ?? "").contains("broken.mp4 is not a media file"), result.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/broken"), "a failed input leaves nothing")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: bad)), Data("garbage".utf8))

        // What was encoded is what explain said, rung by rung.
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/source480/source480.json"))) as? [String: Any])
        let encodedRungs = summary["rungs"] as? [[String: Any]] ?? []
        XCTAssertEqual(encodedRungs.count, plannedRungs.count)
        for (planned, encoded) in zip(plannedRungs, encodedRungs) {
            for key in ["name", "width", "height", "videoBitrate", "audioBitrate", "profile", "level"] {
                XCTAssertEqual("\(planned[key] ?? "-")", "\(encoded[key] ?? "-")", key)
            }
            let path = out + "/source480/" + (encoded["file"] as? String ?? "")
            let probe = try await ExternalTool.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=width,height", "-of", "csv=p=0", path])
            XCTAssertEqual(probe.output.trimmingCharacters(in: .whitespacesAndNewlines), "\(planned["width"]!),\(planned["height"]!)")
        }
        let f4m = try String(contentsOfFile: out + "/source480/source480.f4m", encoding: .utf8)
        // No --base-url and no data folder: the host name and the default port, said aloud.
        let guessed = "rtmp://\(PublicURLTests.hostName):1935/cfx/st"
        XCTAssertTrue(f4m.contains("<baseURL>\(guessed)</baseURL>"), f4m)
        XCTAssertTrue(result.output.contains("manifests point players at \(guessed) (guessed"), result.output)
        XCTAssertTrue(f4m.contains("<media url=\"source480/480p\" bitrate=\"1350\" width=\"854\" height=\"480\"/>"), f4m)
        let smil = try String(contentsOfFile: out + "/source480/source480.smil", encoding: .utf8)
        XCTAssertTrue(smil.contains("<video src=\"source480/240p.flv\" system-bitrate=\"375000\" width=\"428\" height=\"240\"/>"), smil)
    }
}
