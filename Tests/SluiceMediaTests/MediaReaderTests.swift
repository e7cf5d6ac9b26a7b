import Foundation
import SluiceMedia
import SluiceTestSupport
import XCTest

/// FLV, MP4 and MP3 readers on files made by the FFmpeg CLI, with ffprobe as the judge.
final class MediaReaderTests: XCTestCase {
    func open(_ kind: TestMedia.Kind, cache: MediaIndexCache = MediaIndexCache()) async throws -> any MediaReader {
        let path = try await TestMedia.shared.path(kind)
        let file = try XCTUnwrap(MediaFile(path: path))
        let container: MediaContainer = kind.rawValue.hasSuffix(".mp4") ? .mp4 : kind.rawValue.hasSuffix(".mp3") ? .mp3 : .flv
        return try container.openReader(file, cache: cache)
    }

    func allTags(_ reader: any MediaReader) throws -> [MediaTag] {
        var tags: [MediaTag] = []
        while let tag = try reader.nextTag() { tags.append(tag) }
        return tags
    }

    /// Packet counts per stream type, as ffprobe counts them.
    func ffprobePackets(_ kind: TestMedia.Kind) async throws -> [String: Int] {
        try ExternalTool.require("ffprobe")
        let path = try await TestMedia.shared.path(kind)
        let result = try await ExternalTool.run(["ffprobe", "-v", "error", "-count_packets", "-show_entries", "stream=codec_type,nb_read_packets", "-of", "csv=p=0", path])
        var counts: [String: Int] = [:]
        for line in result.output.split(separator: "\n") {
            let parts = line.split(separator: ",")
            if parts.count == 2, let count = Int(parts[1]) { counts[String(parts[0])] = count }
        }
        return counts
    }

    func testFLVPlaysEveryTagOfTheFileOnce() async throws {
        let reader = try await open(.flvIndexed)
        let tags = try allTags(reader)
        let source = try FLVFile(path: try await TestMedia.shared.path(.flvIndexed))
        let expected = source.tags.filter { $0.type != .script && !$0.isSequenceHeader }
        XCTAssertEqual(tags.count, expected.count)
        XCTAssertTrue(tags == expected)
        XCTAssertEqual(reader.sequenceHeaders.map(\.type), [.video, .audio])
        XCTAssertEqual(reader.metadata["width"], 320)
        XCTAssertEqual(reader.duration, 40, accuracy: 0.1)
        let packets = try await ffprobePackets(.flvIndexed)
        // ffprobe counts the AVC end-of-sequence tag as no packet.
        XCTAssertEqual(tags.filter { $0.type == .video && $0.payload.count > 5 }.count, packets["video"])
        XCTAssertEqual(tags.filter { $0.type == .audio }.count, packets["audio"])
    }

    func testFLVIndexFromMetadataAndFromScanAgree() async throws {
        let indexed = try await open(.flvIndexed)
        let plain = try await open(.flvPlain)
        for target: UInt32 in [0, 1999, 2023, 2024, 15_000, 39_999, 90_000] {
            let a = try indexed.seek(to: target)
            let b = try plain.seek(to: target)
            XCTAssertEqual(a, b, "\(target)")
            XCTAssertLessThanOrEqual(a, max(target, 23))
            let first = try XCTUnwrap(try plain.nextTag())
            if target >= 23 {
                XCTAssertTrue(first.isKeyframe, "\(target)")
                XCTAssertEqual(first.timestamp, a)
            }
        }
        // Without a keyframe index in the file, metadata still gets what players need.
        for key in ["duration", "width", "height", "videocodecid", "audiocodecid", "videodatarate"] {
            XCTAssertNotNil(plain.metadata[key], key)
        }
        XCTAssertEqual(plain.metadata["height"], 240)
    }

    func testH263AndMP3InFLV() async throws {
        let reader = try await open(.flvH263)
        let tags = try allTags(reader)
        XCTAssertTrue(reader.sequenceHeaders.isEmpty)
        XCTAssertEqual(tags.first { $0.type == .video }.map { $0.payload[0] & 0x0F }, VideoCodecID.sorensonH263.rawValue)
        XCTAssertEqual(tags.first { $0.type == .audio }.map { $0.payload[0] >> 4 }, AudioCodecID.mp3.rawValue)
        let packets = try await ffprobePackets(.flvH263)
        XCTAssertEqual(tags.filter { $0.type == .video }.count, packets["video"])
        XCTAssertEqual(tags.filter { $0.type == .audio }.count, packets["audio"])
        let source = try FLVFile(path: try await TestMedia.shared.path(.flvH263))
        let keyframe = try XCTUnwrap(source.video.filter { $0.isKeyframe && $0.timestamp <= 5000 }.last)
        XCTAssertGreaterThan(keyframe.timestamp, 3000)  // GOP of 50 frames at 25 fps
        XCTAssertEqual(try reader.seek(to: 5000), keyframe.timestamp)
    }

    func testMP4MoovAtStartAndEndGiveTheSameTags() async throws {
        let end = try await open(.mp4MoovAtEnd)
        let start = try await open(.mp4MoovAtStart)
        let endTags = try allTags(end)
        let startTags = try allTags(start)
        XCTAssertTrue(endTags == startTags)
        XCTAssertTrue(end.sequenceHeaders == start.sequenceHeaders)
        let packets = try await ffprobePackets(.mp4MoovAtEnd)
        XCTAssertEqual(endTags.filter { $0.type == .video }.count, packets["video"])
        XCTAssertEqual(endTags.filter { $0.type == .audio }.count, packets["audio"])
        XCTAssertEqual(end.metadata["width"], 426)
        XCTAssertEqual(end.metadata["height"], 240)
        XCTAssertEqual(end.metadata["audiosamplerate"], 48000)
        XCTAssertEqual(end.duration, 30, accuracy: 0.1)
        // Video tags: AVC NALUs with a keyframe first; timestamps never go back.
        let firstVideo = try XCTUnwrap(endTags.first { $0.type == .video })
        XCTAssertEqual(Array(firstVideo.payload.prefix(2)), [0x17, 0x01])
        XCTAssertEqual(zip(endTags, endTags.dropFirst()).filter { $0.timestamp > $1.timestamp }.count, 0)
        XCTAssertEqual(end.sequenceHeaders.first.map { Array($0.payload.prefix(2)) }, [0x17, 0x00])
        XCTAssertEqual(end.sequenceHeaders.last.map { Array($0.payload.prefix(2)) }, [0xAF, 0x00])
        // B-frames carry composition offsets.
        XCTAssertTrue(endTags.contains { $0.type == .video && ($0.payload[2] != 0 || $0.payload[3] != 0 || $0.payload[4] != 0) })
        let position = try end.seek(to: 9000)
        XCTAssertEqual(position, 8000)
        XCTAssertTrue(try XCTUnwrap(try end.nextTag()).isKeyframe)
    }

    func testMP3SkipsID3AndCountsEveryFrame() async throws {
        let reader = try await open(.mp3)
        let tags = try allTags(reader)
        let packets = try await ffprobePackets(.mp3)
        XCTAssertEqual(tags.count, packets["audio"])
        XCTAssertEqual(tags.first?.payload[0], 0x2F)  // MP3, 44 kHz, 16-bit, stereo
        XCTAssertEqual(Array(tags.first!.payload[1...2]), [0xFF, 0xFB])  // MPEG-1 Layer III sync, not "ID3"
        XCTAssertEqual(reader.duration, 30, accuracy: 0.1)
        let position = try reader.seek(to: 10_000)
        XCTAssertEqual(Double(position), 10_000, accuracy: 27)
        XCTAssertEqual(try reader.nextTag()?.timestamp, position)
    }

    func testIndexesAreSharedThroughTheCache() async throws {
        let cache = MediaIndexCache()
        _ = try await open(.mp4MoovAtEnd, cache: cache)
        _ = try await open(.mp4MoovAtEnd, cache: cache)
        _ = try await open(.flvPlain, cache: cache)
        XCTAssertEqual(cache.count, 2)
    }

    func testBadInputFailsWithAReason() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-bad-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        func write(_ name: String, _ bytes: [UInt8]) -> MediaFile {
            FileManager.default.createFile(atPath: folder + "/" + name, contents: Data(bytes))
            return MediaFile(path: folder + "/" + name)!
        }
        let noise = (0..<4096).map { _ in UInt8.random(in: 0...255) }
        XCTAssertThrowsError(try MediaContainer.flv.openReader(write("a.flv", Array("not a video".utf8)), cache: MediaIndexCache()))
        XCTAssertThrowsError(try MediaContainer.mp4.openReader(write("b.mp4", noise), cache: MediaIndexCache()))
        XCTAssertThrowsError(try MediaContainer.mp3.openReader(write("c.mp3", Array(repeating: 0, count: 4096)), cache: MediaIndexCache()))

        // An MP4 cut before its moov (an upload that did not finish) says so.
        let mp4 = try Data(contentsOf: URL(fileURLWithPath: try await TestMedia.shared.path(.mp4MoovAtEnd)))
        XCTAssertThrowsError(try MediaContainer.mp4.openReader(write("d.mp4", Array(mp4.prefix(mp4.count / 2))), cache: MediaIndexCache())) { error in
            XCTAssertTrue("\(error)".contains("moov"), "\(error)")
        }
        // An FLV cut in the middle plays up to the cut.
        let flv = try Data(contentsOf: URL(fileURLWithPath: try await TestMedia.shared.path(.flvPlain)))
        let cut = try MediaContainer.flv.openReader(write("e.flv", Array(flv.prefix(flv.count / 2 + 7))), cache: MediaIndexCache())
        let tags = try allTags(cut)
        XCTAssertGreaterThan(tags.count, 500)
        XCTAssertLessThan(tags.last!.timestamp, 25_000)
        XCTAssertNil(MediaFile(path: folder))  // a folder is not media
    }

    func testSPSDimensionsIncludingCropping() async throws {
        // 1080 lines are coded as 1088 and cropped: the SPS's frame cropping must be applied.
        let reader = try await open(.flv1080Frame)
        XCTAssertEqual(reader.metadata["width"], 1920)
        XCTAssertEqual(reader.metadata["height"], 1080)
        let header = try XCTUnwrap(reader.sequenceHeaders.first)
        XCTAssertEqual(AVCSequenceParameterSet.dimensions(fromFLVSequenceHeader: header.payload), .init(width: 1920, height: 1080))
        XCTAssertNil(AVCSequenceParameterSet.dimensions(fromSPS: [0x67, 0x64]))
    }
}
