import Foundation
@testable import SluiceMedia
import SluiceTestSupport
import XCTest

/// Media files made to hurt: empty, one byte, cut short, with tables that point past the
/// end or announce billions of samples. Each is refused or plays what it really holds.
final class HostileMediaTests: XCTestCase {
    func testSampleTimesDoNotOverflow() {
        XCTAssertEqual(MP4Reader.milliseconds(.max, timescale: 1), .max)
        XCTAssertEqual(MP4Reader.milliseconds(90_000, timescale: 90_000), 1000)
        XCTAssertEqual(MP4Reader.milliseconds(UInt64(1) << 60, timescale: 1_000_000),
                       UInt32(truncatingIfNeeded: (UInt64(1) << 60) / 1000))
    }

    func open(_ bytes: [UInt8], as container: MediaContainer) throws -> any MediaReader {
        let path = NSTemporaryDirectory() + "sluice-hostile-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        guard let file = MediaFile(path: path) else { throw MediaFormatError.invalid("cannot open") }
        return try container.openReader(file, cache: MediaIndexCache())
    }

    func testEmptyOneByteAndTruncatedFilesAreRefusedOrEndEarly() async throws {
        for container in [MediaContainer.flv, .mp4, .mp3] {
            XCTAssertThrowsError(try open([], as: container), "empty \(container)")
            XCTAssertThrowsError(try open([0x46], as: container), "one byte \(container)")
        }
        for kind in [TestMedia.Kind.flvIndexed, .mp4MoovAtStart, .mp3] {
            let whole = try Array(Data(contentsOf: URL(fileURLWithPath: try await TestMedia.shared.path(kind))))
            let container: MediaContainer = kind == .mp3 ? .mp3 : kind == .flvIndexed ? .flv : .mp4
            for cut in [whole.count / 2, whole.count - 1] {
                // Refused, or plays up to where the file stops: either way, no trap.
                if let reader = try? open(Array(whole.prefix(cut)), as: container) {
                    var tags = 0
                    while (try? reader.nextTag()) != nil, tags < 100_000 { tags += 1 }
                    _ = try? reader.seek(to: .max)
                }
            }
        }
    }

    /// Overwrites the 32-bit field `offset` bytes after the first `box` with `value`.
    func patch(_ bytes: inout [UInt8], box: String, offset: Int, value: UInt32) throws {
        let name = Array(box.utf8)
        let at = try XCTUnwrap((0..<(bytes.count - 4)).first { Array(bytes[$0..<($0 + 4)]) == name }, "no \(box)")
        let start = at + 4 + offset
        bytes.replaceSubrange(start..<(start + 4), with: [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)])
    }

    func testMP4TablesThatPointPastTheEndOrAnnounceBillions() async throws {
        let original = try Array(Data(contentsOf: URL(fileURLWithPath: try await TestMedia.shared.path(.mp4MoovAtStart))))
        // version/flags, then: stco's first entry; stsz's uniform size and count; stts's
        // first run length; stsc's samples per chunk.
        let patches: [(String, Int, UInt32)] = [("stco", 8, 0xFFFF_FFF0), ("stsz", 4, 1), ("stsz", 8, 0xFFFF_FFFF),
                                                 ("stts", 8, 0xFFFF_FFFF), ("stsc", 12, 0xFFFF_FFFF), ("stsz", 8, 0),
                                                 ("stts", 4, 0xFFFF_FFFF), ("ctts", 4, 0xFFFF_FFFF)]
        for (box, offset, value) in patches {
            var bytes = original
            guard (try? patch(&bytes, box: box, offset: offset, value: value)) != nil else { continue }
            // Refused, or plays what the file holds; the fuzzer's 10 s timeout guards the
            // time such tables once took (seconds for 11 KB).
            if let reader = try? open(bytes, as: .mp4) {
                var tags = 0
                while (try? reader.nextTag()) != nil, tags < 100_000 { tags += 1 }
                _ = try? reader.seek(to: 1000)
            }
        }
    }

    func testAKeyframeIndexPointingPastTheEndIsNotTrusted() throws {
        var metadata: AMFObject = ["duration": 2]
        metadata["keyframes"] = .object(["times": .strictArray([0, 1]), "filepositions": .strictArray([13, 1e12])])
        var bytes = FLVFormat.fileHeader(hasAudio: false, hasVideo: true)
        FLVFormat.append(MediaTag(type: .script, timestamp: 0, payload: AMF0.encode([.string("onMetaData"), .ecmaArray(metadata)])), to: &bytes)
        for frame in 0..<50 {
            FLVFormat.append(MediaTag(type: .video, timestamp: UInt32(frame * 40), payload: [frame % 25 == 0 ? 0x12 : 0x22, 0, 0, 0]), to: &bytes)
        }
        let reader = try open(bytes, as: .flv)
        XCTAssertEqual(try reader.seek(to: 1500), 1000, "the scanned index, not the file's")
    }

    /// A file's own duration that is not a length (NaN, infinite, negative, absurd) gives
    /// way to the scanned one: found by the fuzzer, where a NaN reached the players'
    /// metadata and every later conversion of the duration.
    func testAnOnMetaDataDurationThatIsNotALengthIsReplaced() throws {
        for bad in [Double.nan, .infinity, -.infinity, -5, 0, 1e300] {
            var bytes = FLVFormat.fileHeader(hasAudio: false, hasVideo: true)
            FLVFormat.append(MediaTag(type: .script, timestamp: 0, payload: AMF0.encode([.string("onMetaData"), .ecmaArray(["duration": .number(bad)])])),
                             to: &bytes)
            for frame in 0..<50 {
                FLVFormat.append(MediaTag(type: .video, timestamp: UInt32(frame * 40), payload: [frame % 25 == 0 ? 0x12 : 0x22, 0, 0, 0]), to: &bytes)
            }
            let reader = try open(bytes, as: .flv)
            XCTAssertEqual(reader.duration, 1.96, "\(bad)")
            XCTAssertEqual(reader.metadata["duration"]?.doubleValue, 1.96, "\(bad)")
        }
    }
}
