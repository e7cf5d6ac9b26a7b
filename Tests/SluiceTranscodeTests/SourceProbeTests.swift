import Foundation
import SluiceTestSupport
@testable import SluiceTranscode
import XCTest

final class SourceProbeTests: XCTestCase {
    func testProbeAgreesWithFfprobe() async throws {
        let path = try await TestMedia.shared.path(.mp4MoovAtEnd)
        let info = try SourceProbe.probe(path)
        XCTAssertEqual(info.video?.codec, "h264")
        XCTAssertEqual(info.video?.width, 426)
        XCTAssertEqual(info.video?.height, 240)
        XCTAssertEqual(info.video?.frameRate ?? 0, 25, accuracy: 0.01)
        XCTAssertEqual(info.audio?.codec, "aac")
        XCTAssertEqual(info.audio?.sampleRate, 48000)
        XCTAssertEqual(info.duration, 30, accuracy: 0.1)

        let mp3 = try SourceProbe.probe(try await TestMedia.shared.path(.mp3))
        XCTAssertNil(mp3.video)
        XCTAssertEqual(mp3.audio?.channels, 2)
    }

    func testRotationFromTheDisplayMatrix() async throws {
        try ExternalTool.require("ffmpeg")
        let source = try await TestMedia.shared.path(.mp4MoovAtEnd)
        let rotated = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-rotated-\(UUID().uuidString).mp4").path
        // As a phone writes it: the picture stored landscape, a display matrix turning it 90°
        // (FFmpeg 5.1 writes the matrix from the stream's rotate tag).
        let result = try await ExternalTool.run(["ffmpeg", "-v", "error", "-i", source, "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated])
        XCTAssertEqual(result.status, 0, result.standardError)
        // ffprobe prints the matrix's counter-clockwise angle; FFmpeg turns the picture the
        // other way (clockwise = -angle), and so does Sluice.
        let probe = try await ExternalTool.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream_side_data=rotation", "-of", "csv=p=0", rotated])
        let counterClockwise = try XCTUnwrap(Int(probe.output.trimmingCharacters(in: .whitespacesAndNewlines)), probe.output)
        XCTAssertNotEqual(counterClockwise % 360, 0)
        let video = try XCTUnwrap(try SourceProbe.probe(rotated).video)
        XCTAssertEqual(video.rotation, ((-counterClockwise % 360) + 360) % 360)
        XCTAssertEqual(video.displayWidth, 240)
        XCTAssertEqual(video.displayHeight, 426)
    }

    func testNotMediaIsExplained() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-notmedia-\(UUID().uuidString).mp4").path
        try Data("this is a text file, not a video".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try SourceProbe.probe(path)) { error in
            XCTAssertTrue("\(error)".contains("is not a media file FFmpeg can open"), "\(error)")
        }
        XCTAssertThrowsError(try SourceProbe.probe("/nonexistent/file.mp4")) { error in
            XCTAssertEqual("\(error)", "/nonexistent/file.mp4 does not exist")
        }
    }
}
