import Foundation
import SluiceTestSupport
import XCTest

/// Every command in the README's `sh` blocks runs as written on a fresh start: a server
/// on a new data folder (what `scripts/serve` gives), and the files the README treats as
/// the reader's own (talk.mp4, talk.flv, more/*.mov, uploads/keynote.mp4). Only the
/// ports change, to the ones this server got; `scripts/…` lines are the entry points
/// that run this very suite, and are left out.
final class ReadmeCommandsTests: XCTestCase {
    static var repository: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// The README's shell commands in order: comment lines dropped, `\` continuations joined.
    static func commands(in readme: String) -> [String] {
        var commands: [String] = []
        var inShell = false
        var pending = ""
        for line in readme.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                inShell = line == "```sh"
                continue
            }
            guard inShell else { continue }
            let text = line.trimmingCharacters(in: .whitespaces)
            if pending.isEmpty, text.isEmpty || text.hasPrefix("#") { continue }
            if text.hasSuffix("\\") {
                pending += text.dropLast() + " "
                continue
            }
            commands.append(pending + text)
            pending = ""
        }
        return commands
    }

    func testEveryCommandInTheReadmeRunsOnAFreshStart() async throws {
        for tool in ["rtmpdump", "ffprobe"] { try ExternalTool.require(tool) }
        try ExternalTool.require("aws", install: "pip install awscli")
        let readme = try String(contentsOfFile: Self.repository + "/README.md", encoding: .utf8)
        let commands = Self.commands(in: readme)
        XCTAssertGreaterThan(commands.count, 20, "\(commands)")

        let sandbox = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-readme-\(UUID().uuidString)").path
        let manager = FileManager.default
        for folder in ["more", "uploads"] { try manager.createDirectory(atPath: sandbox + "/" + folder, withIntermediateDirectories: true) }
        let talk = try await TestMedia.shared.path(.source480)
        try manager.copyItem(atPath: talk, toPath: sandbox + "/talk.mp4")
        try manager.copyItem(atPath: talk, toPath: sandbox + "/more/interview.mov")
        try manager.copyItem(atPath: talk, toPath: sandbox + "/uploads/keynote.mp4")
        try manager.copyItem(atPath: try await TestMedia.shared.path(.flvIndexed), toPath: sandbox + "/talk.flv")
        try manager.copyItem(atPath: Self.repository + "/jobs", toPath: sandbox + "/jobs")

        // The fresh start: `sluice serve` in the folder, on ./sluice-data.
        let server = Process()
        server.executableURL = URL(fileURLWithPath: SluiceProcess.executable)
        server.arguments = ["serve", "--control-port", "0", "--rtmp-host", "127.0.0.1", "--rtmp-port", "0", "--s3-port", "0", "--http-port", "0"]
        server.currentDirectoryURL = URL(fileURLWithPath: sandbox)
        server.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SLUICE_") }
        let logFile = sandbox + "/serve.log"
        _ = manager.createFile(atPath: logFile, contents: nil)
        server.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        try server.run()
        defer { server.terminate() }
        var log = ""
        let deadline = Date().addingTimeInterval(20)
        while !log.contains("ready: ") {
            guard Date() < deadline else { return XCTFail("the server did not start: \(log)") }
            try await Task.sleep(for: .milliseconds(50))
            log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        }
        let rtmpPort = try XCTUnwrap(ServeCommandTests.port(after: "RTMP listening on 127.0.0.1:", in: log))
        let s3Port = try XCTUnwrap(ServeCommandTests.port(after: "S3 API listening on 127.0.0.1:", in: log))
        let controlPort = try XCTUnwrap(ServeCommandTests.port(after: "control port listening on 127.0.0.1:", in: log))
        let httpPort = try XCTUnwrap(ServeCommandTests.port(after: "HTTP listening on 127.0.0.1:", in: log))
        func printed(_ label: String) throws -> String {
            let range = try XCTUnwrap(log.range(of: label), log)
            return String(log[range.upperBound...].prefix { !$0.isWhitespace })
        }
        // What the reader copies from the first start's log.
        let environment = [
            "PATH": (SluiceProcess.executable as NSString).deletingLastPathComponent + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? ""),
            "AWS_ACCESS_KEY_ID": try printed("access key: "), "AWS_SECRET_ACCESS_KEY": try printed("secret key: "),
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        ]

        for written in commands where !written.hasPrefix("scripts/") {
            if written.hasPrefix("export AWS_ACCESS_KEY_ID=…") { continue }  // the placeholders stand for the keys above
            let command = written.replacingOccurrences(of: "127.0.0.1:1935", with: "127.0.0.1:\(rtmpPort)")
                .replacingOccurrences(of: "rtmp://127.0.0.1/", with: "rtmp://127.0.0.1:\(rtmpPort)/")
                .replacingOccurrences(of: "127.0.0.1:9000", with: "127.0.0.1:\(s3Port)")
                .replacingOccurrences(of: "127.0.0.1:8090", with: "127.0.0.1:\(controlPort)")
                .replacingOccurrences(of: "127.0.0.1:8080", with: "127.0.0.1:\(httpPort)")
            // A command that runs until Ctrl-C gets a few seconds, then Ctrl-C, and must
            // stop as it says it does.
            let untilInterrupted = command.hasPrefix("sluice watch ")
            let arguments = untilInterrupted ? ["timeout", "--preserve-status", "-s", "INT", "4", "bash", "-c", "exec " + command]
                : ["bash", "-c", command]
            let result = try await ExternalTool.run(arguments, timeout: 120, workingDirectory: sandbox, environment: environment)
            XCTAssertEqual(result.status, untilInterrupted ? 130 : 0, "\(written)\n\(result.output)\n\(result.standardError)")
        }
    }
}
