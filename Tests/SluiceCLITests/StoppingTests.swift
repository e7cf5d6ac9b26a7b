import Foundation
import SluiceTestSupport
import XCTest

/// Ctrl-C and SIGTERM stop the long commands promptly and leave nothing half-done: an
/// encode removes its partial outputs, a runner puts its job back in the queue.
final class StoppingTests: XCTestCase {
    func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-stop-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func start(_ arguments: [String], log: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: SluiceProcess.executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SLUICE_") }
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    func waitFor(_ what: String, timeout: Double, _ condition: () throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !condition() {
            guard Date() < deadline else { throw ExternalTool.Failure(description: "timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Signals blocked by a process, from its `/proc/PID/status` (`SigBlk`, a hex mask).
    func blockedSignals(_ pid: Int32) -> UInt64? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigBlk:") }) else { return nil }
        return UInt64(line.dropFirst("SigBlk:".count).trimmingCharacters(in: .whitespaces), radix: 16)
    }

    /// `sluice encode` of a long source, stopped mid-encode by SIGINT (Ctrl-C) and by
    /// SIGTERM: it stops at once, exits 130 / 143, and leaves no output behind. The
    /// encoder (which `sluice` execs) must not inherit a mask that blocks either signal.
    func testSignalStopsAnEncodeAndRemovesItsOutputs() async throws {
        let source = try await TestMedia.shared.path(.flv720p)
        for (signal, status) in [(SIGINT, Int32(130)), (SIGTERM, Int32(143))] {
            let root = try temporaryFolder()
            let log = root + "/encode.log"
            let encode = try start(["encode", source, "--out", root + "/encoded"], log: log)
            defer { if encode.isRunning { kill(encode.processIdentifier, SIGKILL) } }
            // The outputs are written under dot names until complete.
            try await waitFor("the encode to write", timeout: 60) {
                let files = (try? FileManager.default.contentsOfDirectory(atPath: root + "/encoded/hd")) ?? []
                return files.contains { $0.hasSuffix(".partial") }
            }
            let mask = try XCTUnwrap(blockedSignals(encode.processIdentifier))
            XCTAssertEqual(mask & (1 << UInt64(SIGINT - 1) | 1 << UInt64(SIGTERM - 1)), 0, "SigBlk \(String(mask, radix: 16))")
            let sent = Date()
            kill(encode.processIdentifier, signal)
            try await waitFor("the encode to stop", timeout: 10) { !encode.isRunning }
            let took = Date().timeIntervalSince(sent)
            // Generous for a loaded machine; it takes well under a second (one packet).
            XCTAssertLessThan(took, 3, "stopped \(took) s after the signal")
            let output = try String(contentsOfFile: log, encoding: .utf8)
            XCTAssertEqual(encode.terminationReason, .exit, output)
            XCTAssertEqual(encode.terminationStatus, status, output)
            XCTAssertTrue(output.contains("partial outputs removed"), output)
            XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/encoded"), "nothing is left: \(output)")
        }
    }

    /// `sluice jobs run` stopped by Ctrl-C mid-encode: the encoder stops, the job goes
    /// back to the queue without using up an attempt (`jobs list` does not say encoding
    /// once the runner is gone), nothing is published, and the command exits 130.
    func testStoppedRunnerRequeuesItsJobWithoutUsingAnAttempt() async throws {
        let source = try await TestMedia.shared.path(.flv720p)
        let root = try temporaryFolder()
        let data = root + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)  // as a first `sluice serve` makes it
        try FileManager.default.copyItem(atPath: source, toPath: root + "/long.flv")
        try "inputs: [long.flv]\nprefix: stopped\n".write(toFile: root + "/job.yml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try SluiceProcess.run(["jobs", "submit", root + "/job.yml", "--data", data]).status, 0)
        for (command, signal, status) in [(["jobs", "run"], SIGINT, Int32(130)), (["watch", root + "/uploads"], SIGTERM, Int32(143))] {
            let log = root + "/runner.log"
            let runner = try start(command + ["--data", data], log: log)
            defer { if runner.isRunning { kill(runner.processIdentifier, SIGKILL) } }
            try await waitFor("encoding to start", timeout: 60) {
                try SluiceProcess.run(["jobs", "show", "1", "--data", data]).output.contains("job 1: encoding")
            }
            kill(runner.processIdentifier, signal)
            try await waitFor("the runner to stop", timeout: 15) { !runner.isRunning }
            let output = try String(contentsOfFile: log, encoding: .utf8)
            XCTAssertEqual(runner.terminationStatus, status, output)
            XCTAssertTrue(output.contains("queued again (the attempt is not counted)"), output)
            let shown = try SluiceProcess.run(["jobs", "show", "1", "--data", data]).output
            XCTAssertTrue(shown.contains("job 1: queued"), shown)
            XCTAssertTrue(shown.contains("attempts: 0"), shown)
            let listing = try SluiceProcess.run(["bucket", "ls", "media", "--recursive", "--data", data]).output
            XCTAssertFalse(listing.contains("stopped/"), listing)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: data + "/work"), [])
        }
    }
}
