import Foundation
import SluiceMedia
import SluiceTestSupport
@testable import SluiceTranscode
import XCTest

/// Encodes judged by ffprobe: sizes, rates, codecs, bitrates, aligned keyframes, the index.
final class TranscoderTests: XCTestCase {
    var library: PresetLibrary { PresetLibrary(folder: PresetTests.presetsFolder) }

    func outputFolder() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("sluice-encode-\(UUID().uuidString)").path
    }

    func encode(_ kind: TestMedia.Kind, preset: String) async throws -> (EncodeResult, String) {
        let source = try SourceProbe.probe(try await TestMedia.shared.path(kind))
        let ladder = try LadderPlanner.plan(try library.preset(preset), for: source)
        let folder = outputFolder()
        return (try Transcoder(ladder: ladder, folder: folder).run(), folder)
    }

    struct Probe {
        var video: [String: Any]?
        var audio: [String: Any]?
        var keyframeTimes: [Double]
        var videoKilobits: Double
        var audioKilobits: Double
    }

    func ffprobe(_ path: String) async throws -> Probe {
        let streams = try await ExternalTool.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", path])
        let json = try JSONSerialization.jsonObject(with: streams.standardOutput) as? [String: Any]
        let list = json?["streams"] as? [[String: Any]] ?? []
        let packets = try await ExternalTool.run(["ffprobe", "-v", "error", "-show_packets", "-show_entries", "packet=codec_type,size,pts_time,flags", "-of", "json", path])
        let all = ((try JSONSerialization.jsonObject(with: packets.standardOutput) as? [String: Any])?["packets"] as? [[String: Any]]) ?? []
        let video = all.filter { $0["codec_type"] as? String == "video" }
        let audio = all.filter { $0["codec_type"] as? String == "audio" }
        let times = (video.isEmpty ? audio : video).compactMap { Double($0["pts_time"] as? String ?? "") }
        let span = (times.max() ?? 0) - (times.min() ?? 0)
        func kilobits(_ packets: [[String: Any]]) -> Double {
            span > 0 ? Double(packets.compactMap { Int($0["size"] as? String ?? "") }.reduce(0, +)) * 8 / span / 1000 : 0
        }
        return Probe(
            video: list.first { $0["codec_type"] as? String == "video" },
            audio: list.first { $0["codec_type"] as? String == "audio" },
            keyframeTimes: video.filter { ($0["flags"] as? String ?? "").hasPrefix("K") }.compactMap { Double($0["pts_time"] as? String ?? "") },
            videoKilobits: kilobits(video), audioKilobits: kilobits(audio))
    }

    /// Where a server switches: the tag (decode) times of the keyframes, and the times the
    /// onMetaData index gives.
    func keyframeTagTimes(_ path: String) throws -> (tags: [UInt32], index: [Double]) {
        let file = try FLVFile(path: path)
        let tags = file.video.filter { $0.isKeyframe && !$0.isSequenceHeader && $0.payload.count > 5 }.map(\.timestamp)
        let index = file.metadata?["keyframes"]?["times"]?.arrayValue?.compactMap(\.doubleValue) ?? []
        return (tags, index)
    }

    /// Every rung of a ladder: keyframes at the same tag times and the same index times, in
    /// the FLV renditions and in their MP4 copies.
    func checkKeyframesLineUp(_ result: EncodeResult, file: StaticString = #filePath, line: UInt = #line) throws {
        let sets = try result.renditions.map { try keyframeTagTimes($0.path) }
        XCTAssertGreaterThan(sets.first?.tags.count ?? 0, 1, file: file, line: line)
        for (rendition, set) in zip(result.renditions, sets) {
            XCTAssertEqual(set.tags, sets[0].tags, "\(rendition.rung.name): keyframe tag times differ from \(result.renditions[0].rung.name)",
                           file: file, line: line)
            XCTAssertEqual(set.index, sets[0].index, "\(rendition.rung.name): keyframes.times differ", file: file, line: line)
            XCTAssertEqual(set.index, set.tags.map { Double($0) / 1000 }, "\(rendition.rung.name): the index gives the tag times", file: file, line: line)
            if let mp4 = rendition.mp4Path {
                let reader = try MP4Reader(file: XCTUnwrap(MediaFile(path: mp4)), cache: MediaIndexCache())
                var times: [UInt32] = []
                var from: UInt32 = 0
                while let next = reader.keyframe(atOrAfter: from) {
                    times.append(next)
                    from = next + 1
                }
                XCTAssertEqual(times, set.tags, "\(rendition.rung.name): the MP4 copy's keyframes are elsewhere", file: file, line: line)
            }
        }
    }

    func testEveryRungTakesTheLaddersLongestDecodeDelay() {
        XCTAssertEqual(Transcoder.alignDecodeDelays([(2, 1), (0, 1)]), 2, "a baseline rung waits for the B-frame rungs")
        XCTAssertEqual(Transcoder.alignDecodeDelays([(2, 1), (4, 2)]), 4, "a half-rate rung's two frames are four source frames")
        XCTAssertEqual(Transcoder.alignDecodeDelays([(3, 1), (0, 2)]), 4, "rounded up to a whole half-rate frame")
        XCTAssertEqual(Transcoder.alignDecodeDelays([(0, 1), (0, 2)]), 0)
        XCTAssertEqual(Transcoder.alignDecodeDelays([]), 0)
    }

    func testDynamicStreamingLadderFollowsItsRules() async throws {
        try ExternalTool.require("ffprobe")
        let (result, folder) = try await encode(.source480, preset: "dynamic-streaming")
        XCTAssertEqual(result.renditions.map(\.rung.name), ["480p", "360p", "240p"])
        var keyframeSets: [[Double]] = []
        for rendition in result.renditions {
            let rung = rendition.rung
            XCTAssertEqual(rendition.path, folder + "/" + rung.name + ".flv")
            let probe = try await ffprobe(rendition.path)
            XCTAssertEqual(probe.video?["codec_name"] as? String, "h264", rung.name)
            XCTAssertEqual(probe.video?["width"] as? Int, rung.width, rung.name)
            XCTAssertEqual(probe.video?["height"] as? Int, rung.height, rung.name)
            XCTAssertEqual(probe.video?["r_frame_rate"] as? String, "30/1", rung.name)
            XCTAssertEqual((probe.video?["profile"] as? String)?.lowercased().contains(rung.profile == "baseline" ? "baseline" : rung.profile), true, rung.name)
            XCTAssertEqual(probe.audio?["codec_name"] as? String, "aac", rung.name)
            XCTAssertEqual(probe.audio?["sample_rate"] as? String, "44100", rung.name)
            XCTAssertEqual(probe.audio?["channels"] as? Int, 2, rung.name)
            XCTAssertEqual(probe.videoKilobits, Double(rung.videoBitrate), accuracy: Double(rung.videoBitrate) * 0.15, "\(rung.name) video bitrate")
            XCTAssertEqual(probe.audioKilobits, Double(rung.audioBitrate), accuracy: Double(rung.audioBitrate) * 0.15, "\(rung.name) audio bitrate")
            XCTAssertEqual(probe.keyframeTimes.count, 5, "\(rung.name): a keyframe every 2 s of 10 s")
            keyframeSets.append(probe.keyframeTimes)

            // The index in onMetaData points at the keyframe tags.
            let file = try FLVFile(path: rendition.path)
            let metadata = try XCTUnwrap(file.metadata)
            let positions = try XCTUnwrap(metadata["keyframes"]?["filepositions"]?.arrayValue?.compactMap(\.doubleValue))
            XCTAssertEqual(positions.count, 5)
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: rendition.path)))
            for position in positions.map({ Int($0) }) {
                XCTAssertEqual(bytes[position], 9, "\(rung.name): filepositions must point at video tags")
                XCTAssertEqual(bytes[position + 11], 0x17, "\(rung.name): filepositions must point at AVC keyframes")
            }
            XCTAssertEqual(metadata["width"]?.doubleValue, Double(rung.width))
            XCTAssertEqual(metadata["duration"]?.doubleValue ?? 0, 10, accuracy: 0.2)
            let decode = try await ExternalTool.run(["ffmpeg", "-v", "error", "-i", rendition.path, "-f", "null", "-"])
            XCTAssertEqual(decode.standardError, "", "\(rung.name) decodes cleanly")
        }
        XCTAssertTrue(keyframeSets.allSatisfy { $0 == keyframeSets[0] }, "keyframe times differ across rungs: \(keyframeSets)")
        XCTAssertEqual(result.renditions.last?.rung.profile, "baseline", "the ladder's low rung has no B-frames")
        try checkKeyframesLineUp(result)
        // Only the renditions: no temporary files left.
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        XCTAssertEqual(names, ["240p.flv", "360p.flv", "480p.flv"], "FLV only: dynamic-streaming asks for no MP4")
    }

    func testOddSizesSurroundSoundAndHalfRateRungs() async throws {
        try ExternalTool.require("ffprobe")
        let (result, _) = try await encode(.oddSurround, preset: "mobile")
        let names = result.renditions.map(\.rung.name)
        XCTAssertEqual(names, ["240p", "144p"])
        for rendition in result.renditions {
            let probe = try await ffprobe(rendition.path)
            XCTAssertEqual((probe.video?["width"] as? Int ?? 1) % 2, 0)
            XCTAssertEqual((probe.video?["height"] as? Int ?? 1) % 2, 0)
            XCTAssertEqual(probe.audio?["channels"] as? Int, 2, "5.1 downmixed to stereo")
        }
        let top = try await ffprobe(result.renditions[0].path)
        XCTAssertEqual(top.video?["width"] as? Int, 320)
        XCTAssertEqual(top.video?["height"] as? Int, 240)
        let low = try await ffprobe(result.renditions[1].path)
        XCTAssertEqual(low.video?["r_frame_rate"] as? String, "12/1", "a rung under 100 kbit/s at half the 24 fps")
        XCTAssertEqual(low.keyframeTimes, top.keyframeTimes)
        try checkKeyframesLineUp(result)

        // mobile asks for MP4 too: moov before mdat, same streams.
        for rendition in result.renditions {
            let mp4 = try XCTUnwrap(rendition.mp4Path)
            let probe = try await ffprobe(mp4)
            XCTAssertEqual(probe.video?["width"] as? Int, rendition.rung.width)
            XCTAssertEqual(probe.audio?["codec_name"] as? String, "aac")
            XCTAssertEqual(probe.keyframeTimes.count, top.keyframeTimes.count)
            let head = try Data(contentsOf: URL(fileURLWithPath: mp4)).prefix(64 * 1024)
            let moov = head.range(of: Data("moov".utf8)), mdat = head.range(of: Data("mdat".utf8))
            XCTAssertNotNil(moov, "moov must come first (faststart)")
            if let moov, let mdat { XCTAssertLessThan(moov.lowerBound, mdat.lowerBound) }
            let decode = try await ExternalTool.run(["ffmpeg", "-v", "error", "-i", mp4, "-f", "null", "-"])
            XCTAssertEqual(decode.standardError, "")
        }
    }

    func testVideoWithoutAudioAndAudioOnly() async throws {
        try ExternalTool.require("ffprobe")
        let (silent, _) = try await encode(.silentVideo, preset: "mobile")
        let probe = try await ffprobe(silent.renditions[0].path)
        XCTAssertNil(probe.audio)
        XCTAssertEqual(probe.video?["codec_name"] as? String, "h264")

        let (sound, _) = try await encode(.source480, preset: "audio-only")
        var codecs: [String] = []
        for rendition in sound.renditions {
            let probe = try await ffprobe(rendition.path)
            XCTAssertNil(probe.video)
            codecs.append(probe.audio?["codec_name"] as? String ?? "?")
            XCTAssertEqual(probe.audioKilobits, Double(rendition.rung.audioBitrate), accuracy: Double(rendition.rung.audioBitrate) * 0.15)
        }
        XCTAssertEqual(codecs, ["aac", "mp3", "aac"])
    }

    func testBadInputsFailWithAReasonAndLeaveNothing() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-bad-inputs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let text = folder + "/notes.mp4"
        try Data("not a video at all".utf8).write(to: URL(fileURLWithPath: text))
        XCTAssertThrowsError(try SourceProbe.probe(text)) { XCTAssertTrue("\($0)".contains("is not a media file"), "\($0)") }

        // An upload cut short: moov first, then only half the media.
        let whole = try Data(contentsOf: URL(fileURLWithPath: try await TestMedia.shared.path(.mp4MoovAtStart)))
        let truncated = folder + "/cut.mp4"
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: truncated))
        let before = try Data(contentsOf: URL(fileURLWithPath: truncated))
        let source = try SourceProbe.probe(truncated)
        let ladder = try LadderPlanner.plan(try library.preset("mobile"), for: source)
        let output = folder + "/out"
        XCTAssertThrowsError(try Transcoder(ladder: ladder, folder: output).run()) { error in
            XCTAssertTrue("\(error)".contains("is truncated"), "\(error)")
        }
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: output)) ?? [], [], "no partial outputs")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: truncated)), before, "the source is never modified")

        // Sound only, into a preset that needs video.
        let song = try SourceProbe.probe(try await TestMedia.shared.path(.mp3))
        XCTAssertThrowsError(try LadderPlanner.plan(try library.preset("dynamic-streaming"), for: song)) { error in
            XCTAssertTrue("\(error)".contains("has no video, and preset dynamic-streaming needs video"), "\(error)")
        }
    }

    func testRotatedSourceIsTurnedUpright() async throws {
        try ExternalTool.require("ffmpeg")
        let folder = outputFolder()
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let rotated = folder + "/phone.mp4"
        let made = try await ExternalTool.run(["ffmpeg", "-v", "error", "-i", try await TestMedia.shared.path(.mp4MoovAtEnd),
                                               "-t", "4", "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated])
        XCTAssertEqual(made.status, 0, made.standardError)
        let source = try SourceProbe.probe(rotated)
        let ladder = try LadderPlanner.plan(try library.preset("mobile"), for: source)
        let result = try Transcoder(ladder: ladder, folder: folder + "/out").run()
        let top = try XCTUnwrap(result.renditions.first)
        XCTAssertGreaterThan(top.rung.height, top.rung.width, "portrait after turning")
        // FFmpeg's own autorotation of the source, scaled alike, must match the rendition.
        let compare = try await ExternalTool.run([
            "ffmpeg", "-hide_banner", "-i", top.path, "-i", rotated, "-lavfi",
            "[1:v]scale=\(top.rung.width):\(top.rung.height):flags=bicubic[ref];[0:v][ref]psnr", "-f", "null", "-",
        ])
        let psnr = compare.standardError.range(of: #"average:([0-9.]+)"#, options: .regularExpression)
            .flatMap { Double(compare.standardError[$0].dropFirst("average:".count)) } ?? 0
        XCTAssertGreaterThan(psnr, 28, "rendition does not match the upright source: \(compare.standardError.suffix(300))")
    }

    func testVariableFrameRateBecomesConstant() async throws {
        try ExternalTool.require("ffprobe")
        let folder = outputFolder()
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let vfr = folder + "/vfr.mkv"
        // Drop two frames of every five, keeping their original times: irregular gaps.
        let made = try await ExternalTool.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "6",
                                               "-vf", "select='not(between(mod(n\\,5)\\,1\\,2))'", "-vsync", "vfr",
                                               "-c:v", "libx264", "-preset", "ultrafast", vfr])
        XCTAssertEqual(made.status, 0, made.standardError)
        let source = try SourceProbe.probe(vfr)
        let ladder = try LadderPlanner.plan(try library.preset("mobile"), for: source)
        let result = try Transcoder(ladder: ladder, folder: folder + "/out").run()
        let packets = try await ExternalTool.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time", "-of", "csv=p=0", result.renditions[0].path])
        let times = packets.output.split(separator: "\n").compactMap { Double($0) }.sorted()
        let steps = Set(zip(times, times.dropFirst()).map { (($1 - $0) * 1000).rounded() })
        XCTAssertTrue(steps.isSubset(of: [40, 41, 39]), "frame spacing must be constant at the output rate: \(steps)")
        XCTAssertEqual(Double(times.count), 6 * ladder.frameRate / Double(result.renditions[0].rung.frameStep), accuracy: 3)
    }
}
