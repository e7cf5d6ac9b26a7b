import Foundation
import XCTest

/// Real peers that tests run (rtmpdump, ffmpeg, ffprobe). Under `CI=true` a missing tool
/// fails the test; elsewhere it skips it, saying what to install.
public enum ExternalTool {
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    public static func path(_ name: String) -> String? {
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(folder)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The tool's path, or a failure (CI) / skip (elsewhere) when it is not installed.
    @discardableResult
    public static func require(_ name: String, install: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        if let found = path(name) { return found }
        let message = "\(name) is not installed (\(install ?? "apt-get install -y \(name == "ffprobe" ? "ffmpeg" : name)"))"
        if isCI {
            XCTFail(message, file: file, line: line)
            throw XCTSkip("failed: \(message)")
        }
        throw XCTSkip(message)
    }

    /// A Python module the test needs (boto3), failing under CI like a missing tool.
    public static func requirePython(module: String, install: String, file: StaticString = #filePath, line: UInt = #line) async throws {
        try require("python3", file: file, line: line)
        let result = try await run(["python3", "-c", "import \(module)"], timeout: 30)
        guard result.status != 0 else { return }
        let message = "the Python module \(module) is not installed (\(install))"
        if isCI {
            XCTFail(message, file: file, line: line)
            throw XCTSkip("failed: \(message)")
        }
        throw XCTSkip(message)
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public struct Result: Sendable {
        public var status: Int32
        public var standardOutput: Data
        public var standardError: String
        public var seconds: Double
        public var output: String { String(decoding: standardOutput, as: UTF8.self) }
    }

    /// Runs a command under `timeout -s KILL` (rtmpdump ignores SIGTERM in some states),
    /// collecting its output.
    public static func run(_ arguments: [String], timeout seconds: Int = 60, workingDirectory: String? = nil,
                           environment: [String: String] = [:]) async throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path("timeout") ?? "/usr/bin/timeout")
        process.arguments = ["-s", "KILL", String(seconds)] + arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-out-\(UUID().uuidString)")
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outputFile)
            try? FileManager.default.removeItem(at: errorFile)
        }
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        process.standardError = try FileHandle(forWritingTo: errorFile)
        process.standardInput = FileHandle.nullDevice
        let started = Date()
        try process.run()
        while process.isRunning {
            try await Task.sleep(for: .milliseconds(10))
        }
        return Result(
            status: process.terminationStatus,
            standardOutput: (try? Data(contentsOf: outputFile)) ?? Data(),
            standardError: String(decoding: (try? Data(contentsOf: errorFile)) ?? Data(), as: UTF8.self),
            seconds: Date().timeIntervalSince(started))
    }
}
