import Foundation
import SluiceMedia
import SluiceTestSupport
import XCTest

/// The FLV writer's keyframe index, judged by re-reading the file and by FFmpeg.
final class FLVFileWriterTests: XCTestCase {
    /// Rewrites FFmpeg's FLV (no index) tag by tag through the writer.
    func rewrite(reservedKeyframes: Int) async throws -> (String, FLVFileWriter.Summary, [MediaTag]) {
        let source = try await TestMedia.shared.path(.flvPlain)
        let reader = try FLVReader(file: XCTUnwrap(MediaFile(path: source)), cache: MediaIndexCache())
        var tags = reader.sequenceHeaders
        while let tag = try reader.nextTag() { tags.append(tag) }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-writer-\(UUID().uuidString).flv").path
        let info = FLVFileWriter.StreamInfo(hasVideo: true, hasAudio: true, width: 320, height: 240, frameRate: 25,
                                            audioSampleRate: 44100, stereo: false, audioFrameDuration: 1024.0 / 44.1)
        let writer = try FLVFileWriter(path: output, info: info, reservedKeyframes: reservedKeyframes)
        for tag in tags { try writer.write(tag) }
        return (output, try writer.finish(), tags)
    }

    func checkIndex(_ path: String, _ summary: FLVFileWriter.Summary, _ tags: [MediaTag]) async throws {
        let file = try FLVFile(path: path)
        XCTAssertTrue(file.tags.filter { $0.type != .script } == tags, "media tags changed")
        let metadata = try XCTUnwrap(file.metadata)
        let times = try XCTUnwrap(metadata["keyframes"]?["times"]?.arrayValue?.compactMap(\.doubleValue))
        let positions = try XCTUnwrap(metadata["keyframes"]?["filepositions"]?.arrayValue?.compactMap(\.doubleValue))
        XCTAssertEqual(times.count, 20)  // 40 s, a keyframe every 2 s
        XCTAssertEqual(times, summary.keyframeTimes)
        XCTAssertEqual(positions.map { Int64($0) }, summary.keyframePositions)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        for (time, position) in zip(times, positions) {
            let offset = Int(position)
            let header = try FLVFormat.parseTagHeader(Array(bytes[offset..<offset + 11]))
            XCTAssertEqual(header.type, FLVTagType.video.rawValue, "position \(offset) is not a video tag")
            XCTAssertEqual(bytes[offset + 11] >> 4, 1, "position \(offset) is not a keyframe")
            XCTAssertEqual(Double(header.timestamp) / 1000, time, accuracy: 0.0005)
        }
        XCTAssertEqual(metadata["filesize"]?.doubleValue, Double(bytes.count))
        XCTAssertEqual(metadata["duration"]?.doubleValue ?? 0, 40, accuracy: 0.1)
        XCTAssertEqual(metadata["width"], 320)
        XCTAssertEqual(metadata["lastkeyframelocation"]?.doubleValue, positions.last)
        for key in ["hasKeyframes", "hasVideo", "hasAudio", "hasMetadata", "canSeekToEnd", "datasize", "videosize", "audiosize",
                    "framerate", "videodatarate", "audiodatarate", "videocodecid", "audiocodecid", "audiosamplerate", "stereo",
                    "lasttimestamp", "lastkeyframetimestamp"] {
            XCTAssertNotNil(metadata[key], key)
        }
        // Sluice's reader trusts the index (no scan) and seeks by it.
        let reader = try FLVReader(file: XCTUnwrap(MediaFile(path: path)), cache: MediaIndexCache())
        XCTAssertEqual(try reader.seek(to: 21_000), UInt32((times.last { $0 <= 21 }! * 1000).rounded()))

        // FFmpeg decodes the whole file cleanly and sees the duration.
        try ExternalTool.require("ffmpeg")
        let decode = try await ExternalTool.run(["ffmpeg", "-v", "error", "-i", path, "-f", "null", "-"])
        XCTAssertEqual(decode.status, 0)
        XCTAssertEqual(decode.standardError, "", decode.standardError)
    }

    func testIndexIsPatchedInPlace() async throws {
        let (path, summary, tags) = try await rewrite(reservedKeyframes: 25)
        XCTAssertFalse(summary.usedSecondPass)
        try await checkIndex(path, summary, tags)
    }

    func testTooSmallReservationFallsBackToASecondPass() async throws {
        let (path, summary, tags) = try await rewrite(reservedKeyframes: 3)
        XCTAssertTrue(summary.usedSecondPass)
        try await checkIndex(path, summary, tags)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".rewrite"))
    }
}
