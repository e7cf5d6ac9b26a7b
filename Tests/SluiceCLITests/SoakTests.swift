import Foundation
import SluiceTestSupport
import XCTest

/// A short hostile soak (`bench/soak.py` at a small size) against the built `sluice
/// serve`: players at real-time pace beside hostile RTMP and HTTP connections. The
/// script checks that every player got the whole file in order, that descriptors and
/// private memory came back, that no private or outside file was served, and that new
/// players start quickly while slow S3 uploads run.
final class SoakTests: XCTestCase {
    func testServerSurvivesAShortHostileSoak() async throws {
        try ExternalTool.require("ffmpeg")
        try await ExternalTool.requirePython(module: "botocore", install: "pip install boto3")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../bench/soak.py").standardizedFileURL.path
        let result = try await ExternalTool.run(
            ["python3", script, "--sluice", SluiceProcess.executable, "--clients", "60", "--hostile", "20", "--seconds", "15",
             "--warm-up", "8", "--clip-seconds", "6", "--ramp", "3", "--flood", "100", "--handshake-timeout", "2", "--settle", "5",
             "--s3-load", "16"],
            timeout: 600)
        XCTAssertEqual(result.status, 0, "\(result.output)\n\(result.standardError)")
        XCTAssertTrue(result.output.contains("SOAK OK"), result.output)
    }
}
