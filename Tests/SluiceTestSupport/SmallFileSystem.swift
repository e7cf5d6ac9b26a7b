import Foundation
import XCTest

/// A tmpfs of a given size mounted on a test's folder: the only honest full disk.
/// Mounting needs root; elsewhere the test is skipped, saying why, except under CI,
/// where a skip would hide the full-disk tests: there it fails.
public struct SmallFileSystem {
    public let path: String

    public static func mount(at path: String, megabytes: Int) async throws -> SmallFileSystem {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mounted = try await ExternalTool.run(["mount", "-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path], timeout: 10)
        guard mounted.status == 0 else {
            let message = "cannot mount a small tmpfs here: \(mounted.standardError)"
            if ExternalTool.isCI { XCTFail(message) }
            throw XCTSkip(message)
        }
        return SmallFileSystem(path: path)
    }

    /// Makes room: the same file system, now `megabytes` large.
    public func grow(to megabytes: Int) async throws {
        let grown = try await ExternalTool.run(["mount", "-o", "remount,size=\(megabytes)m", path], timeout: 10)
        guard grown.status == 0 else { throw ExternalTool.Failure(description: "cannot grow \(path): \(grown.standardError)") }
    }

    /// Lazily, so that a process still holding a file there does not block it.
    public func unmount() {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/umount")
        process.arguments = ["-l", path]
        try? process.run()
        process.waitUntilExit()
    }
}
