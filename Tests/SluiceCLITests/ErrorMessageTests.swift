import Foundation
import SluiceTestSupport
import XCTest

/// Errors a person can act on: which listener and port, one line and exit 1 for what is
/// not a usage mistake, no data folder made by a typo, and `--print-settings` refusing
/// what a start refuses.
final class ErrorMessageTests: XCTestCase {
    func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-errors-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A listening socket on a free loopback port, held until `close`.
    func occupiedPort() throws -> (port: Int, descriptor: Int32) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
        XCTAssertEqual(bound, 0)
        XCTAssertEqual(listen(descriptor, 1), 0)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
        return (Int(UInt16(bigEndian: address.sin_port)), descriptor)
    }

    func assertOneLineFailure(_ result: (status: Int32, output: String), _ text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, 1, result.output, file: file, line: line)
        XCTAssertTrue(result.output.contains(text), result.output, file: file, line: line)
        XCTAssertFalse(result.output.contains("Usage:"), "not a usage error: \(result.output)", file: file, line: line)
    }

    func testAPortInUseNamesTheListenerAndWhatToDo() throws {
        let data = try temporaryFolder()
        let (port, descriptor) = try occupiedPort()
        defer { close(descriptor) }
        let rtmp = try SluiceProcess.run(["serve", "--control-port", "0", "--data", data, "--rtmp-host", "127.0.0.1", "--rtmp-port", String(port),
                                          "--http-port", "0", "--s3-port", "0"])
        assertOneLineFailure(rtmp, "Error: the RTMP listener cannot bind 127.0.0.1:\(port): address already in use")
        XCTAssertTrue(rtmp.output.contains("use --rtmp-port"), rtmp.output)
        XCTAssertFalse(rtmp.output.contains("errno"), rtmp.output)

        let s3 = try SluiceProcess.run(["serve", "--control-port", "0", "--data", data, "--rtmp-host", "127.0.0.1", "--rtmp-port", "0",
                                        "--http-port", "0", "--s3-port", String(port)])
        assertOneLineFailure(s3, "Error: the S3 API cannot bind 127.0.0.1:\(port): address already in use")
        XCTAssertTrue(s3.output.contains("use --s3-port"), s3.output)

        let http = try SluiceProcess.run(["serve", "--control-port", "0", "--data", data, "--rtmp-host", "127.0.0.1", "--rtmp-port", "0",
                                          "--http-port", String(port), "--s3-port=-1"])
        assertOneLineFailure(http, "Error: the public HTTP listener cannot bind 127.0.0.1:\(port): address already in use")
    }

    func testFailuresThatAreNotUsagePrintOneLineAndExitOne() throws {
        let root = try temporaryFolder()
        let data = root + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        assertOneLineFailure(try SluiceProcess.run(["jobs", "show", "99", "--data", data]), "Error: no job 99")
        assertOneLineFailure(try SluiceProcess.run(["bucket", "put", root + "/missing.flv", "media/x.flv", "--data", data]),
                             "Error: \(root)/missing.flv does not exist")
        try Data((0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 131) }).write(to: URL(fileURLWithPath: root + "/corrupt.mp4"))
        let explained = try SluiceProcess.run(["presets", "explain", "--input", root + "/corrupt.mp4"])
        assertOneLineFailure(explained, "corrupt.mp4 is not a media file FFmpeg can open")
        XCTAssertEqual(explained.output.split(separator: "\n").count, 1, explained.output)
        assertOneLineFailure(try SluiceProcess.run(["presets", "explain", "no-such-preset", "--input", root + "/corrupt.mp4"]),
                             "no-such-preset")
        assertOneLineFailure(try SluiceProcess.run(["presets", "explain", "--input", root + "/missing.mp4"]),
                             "Error: \(root)/missing.mp4 does not exist")
        assertOneLineFailure(try SluiceProcess.run(["jobs", "submit", root + "/missing.yml", "--data", data]),
                             "Error: \(root)/missing.yml does not exist")

        // A usage mistake still shows the usage, with status 64.
        let usage = try SluiceProcess.run(["bucket", "acl", "media/x.flv", "secret", "--data", data])
        XCTAssertEqual(usage.status, 64, usage.output)
        XCTAssertTrue(usage.output.contains("Usage:"), usage.output)
    }

    func testOnlyServeCreatesADataFolder() throws {
        let root = try temporaryFolder()
        let missing = root + "/typo"
        for command in [["jobs", "list"], ["bucket", "ls"], ["bucket", "mb", "media"], ["jobs", "submit", root + "/none.yml"],
                        ["watch", root + "/uploads"], ["jobs", "run"]] {
            let result = try SluiceProcess.run(command + ["--data", missing])
            assertOneLineFailure(result, "Error: the data folder \(missing) does not exist")
            XCTAssertFalse(FileManager.default.fileExists(atPath: missing), "\(command) created it")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/uploads"), "watch gave up before making its folder")
    }

    func testPrintSettingsRefusesWhatAStartRefuses() throws {
        let data = try temporaryFolder()
        for (arguments, environment, text) in [
            (["--log-level", "verbose"], [:], "log level 'verbose' is not one of"),
            (["--log-format", "xml"], [:], "log format 'xml' is not text or json"),
            ([], ["SLUICE_RTMP_CHUNK_SIZE": "1"], "'rtmp.chunk-size' must be in 128...65536"),
            (["--public-url", "http://example.com/"], [:], "'public-url' must be like rtmp://"),
        ] as [([String], [String: String], String)] {
            let printed = try SluiceProcess.run(["serve", "--data", data, "--print-settings"] + arguments, environment: environment)
            let started = try SluiceProcess.run(["serve", "--control-port", "0", "--data", data, "--rtmp-port", "0", "--http-port", "0", "--s3-port", "0"] + arguments,
                                                environment: environment)
            assertOneLineFailure(printed, text)
            assertOneLineFailure(started, text)
        }
    }
}
