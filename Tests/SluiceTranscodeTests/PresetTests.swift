import Foundation
@testable import SluiceTranscode
import XCTest

/// Presets: the shipped ones parse, bad ones are refused with file, line and reason.
final class PresetTests: XCTestCase {
    static var presetsFolder: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("presets").path
    }

    func testShippedPresetsParse() throws {
        let presets = try PresetLibrary(folder: Self.presetsFolder).all()
        XCTAssertEqual(presets.map(\.name), ["audio-only", "dynamic-streaming", "mobile"])
        let dynamic = try PresetLibrary(folder: Self.presetsFolder).preset("dynamic-streaming")
        XCTAssertEqual(dynamic.video?.bitrateRule, .kushGauge(motionRank: 2))
        XCTAssertEqual(dynamic.rungs.map(\.name), ["1080p", "720p", "480p", "360p", "240p"])
        XCTAssertEqual(dynamic.keyframeInterval, 2)
        XCTAssertEqual(dynamic.bandwidthShare, 0.75)
        let mobile = try PresetLibrary(folder: Self.presetsFolder).preset("mobile")
        XCTAssertTrue(mobile.rungs.allSatisfy { $0.profile == "baseline" })
        XCTAssertEqual(mobile.outputs, [.flv, .mp4])
        let audio = try PresetLibrary(folder: Self.presetsFolder).preset("audio-only")
        XCTAssertTrue(audio.isAudioOnly)
        XCTAssertEqual(audio.rungs.map { $0.audioCodec ?? audio.audio.codec }, [.aac, .aac, .mp3])
    }

    func assertRefused(_ yaml: String, line: Int?, contains fragment: String, file: StaticString = #filePath, sourceLine: UInt = #line) {
        XCTAssertThrowsError(try Preset.parse(yaml, file: "bad.yml"), file: file, line: sourceLine) { error in
            guard let error = error as? PresetError else { return XCTFail("\(error)", file: file, line: sourceLine) }
            XCTAssertEqual(error.file, "bad.yml", file: file, line: sourceLine)
            XCTAssertEqual(error.line, line, "\(error)", file: file, line: sourceLine)
            XCTAssertTrue(error.description.contains(fragment), error.description, file: file, line: sourceLine)
            if let line { XCTAssertTrue(error.description.hasPrefix("bad.yml:\(line): "), error.description, file: file, line: sourceLine) }
        }
    }

    func testBadPresetsAreRefusedWithLineAndReason() {
        let good = """
            name: p
            video:
              motion-rank: 2
            rungs:
              - name: 360p
                height: 360
                tier: 1000

            """
        XCTAssertNoThrow(try Preset.parse(good, file: "good.yml"))
        assertRefused(good.replacingOccurrences(of: "  motion-rank: 2", with: "  motion-rank: 3"), line: 3, contains: "1 (low), 2 (medium) or 4 (high motion)")
        assertRefused(good.replacingOccurrences(of: "    tier: 1000", with: "    tier: 1000\n    profil: high"), line: 8, contains: "unknown key 'profil'")
        assertRefused(good.replacingOccurrences(of: "    tier: 1000", with: "    tier: 1000\n    level: \"9.9\""), line: 8, contains: "'9.9' is not an H.264 level")
        assertRefused(good.replacingOccurrences(of: "    tier: 1000", with: "    tier: fast"), line: 7, contains: "must be a number")
        assertRefused(good.replacingOccurrences(of: "    height: 360\n", with: ""), line: 5, contains: "needs 'height'")
        assertRefused(good.replacingOccurrences(of: "name: p\n", with: "name: p\nkeyframe-interval: 0\n"), line: 2, contains: "between 0.5 and 20")
        assertRefused("name: p\nrungs: []\n", line: 1, contains: "needs 'rungs'")
        assertRefused("name: p\nrungs:\n  - name: a\n    tier: [1\n", line: 5, contains: "not valid YAML")
        assertRefused("- just\n- a list\n", line: 1, contains: "must be a mapping")
        assertRefused(good.replacingOccurrences(of: "  motion-rank: 2", with: "  bitrate-rule: guesswork"), line: 3, contains: "kush-gauge or bits-per-pixel")
    }

    func testEmptyOneByteAndExtremePresetsAreErrors() {
        for text in ["", "\n", "#", "-", "[a]: b\n", "name: p\nkeyframe-interval: 1e308\nrungs:\n  - {name: a, height: 360, tier: 1}\n",
                     "name: p\nrungs:\n  - {name: a, height: 99999999999999999999, tier: 1}\n",
                     "name: p\nrungs:\n  - {name: a, height: 360, tier: -1e308}\n", String(repeating: "[", count: 10000)] {
            XCTAssertThrowsError(try Preset.parse(text, file: "bad.yml"), text.prefix(40).description)
        }
    }

    func testUnknownPresetNamesTheKnownOnes() {
        XCTAssertThrowsError(try PresetLibrary(folder: Self.presetsFolder).preset("nope")) { error in
            XCTAssertTrue("\(error)".contains("there are: audio-only, dynamic-streaming, mobile"), "\(error)")
        }
    }
}

/// The planner's rules on made-up sources.
final class LadderPlannerTests: XCTestCase {
    var dynamic: Preset { try! PresetLibrary(folder: PresetTests.presetsFolder).preset("dynamic-streaming") }
    var mobile: Preset { try! PresetLibrary(folder: PresetTests.presetsFolder).preset("mobile") }

    func source(_ width: Int, _ height: Int, fps: Double = 30, rotation: Int = 0, audio: Bool = true, video: Bool = true) -> SourceInfo {
        SourceInfo(path: "in.mp4", container: "mp4", duration: 30,
                   video: video ? .init(codec: "h264", width: width, height: height, rotation: rotation, frameRate: fps) : nil,
                   audio: audio ? .init(codec: "aac", sampleRate: 48000, channels: 6) : nil)
    }

    func testFullHDSourceGetsTheWholeLadder() throws {
        let ladder = try LadderPlanner.plan(dynamic, for: source(1920, 1080))
        XCTAssertEqual(ladder.rungs.map(\.name), ["1080p", "720p", "480p", "360p", "240p"])
        XCTAssertEqual(ladder.rungs.map { "\($0.width)x\($0.height)" }, ["1920x1080", "1280x720", "854x480", "640x360", "426x240"])
        // Kush gauge at 30 fps and motion rank 2, capped at 75% of each tier less audio.
        XCTAssertEqual(ladder.rungs.map(\.videoBitrate), [4372, 2497, 1254, 654, 311])
        XCTAssertEqual(ladder.rungs.map(\.audioBitrate), [128, 128, 96, 96, 64])
        XCTAssertTrue(ladder.rungs.allSatisfy { Double($0.totalBitrate) <= $0.tier * 0.75 + 0.5 })
        XCTAssertEqual(ladder.keyframeEvery, 60)
        XCTAssertTrue(ladder.rungs.allSatisfy { $0.frameRate == 30 && $0.gopFrames == 60 })
        XCTAssertEqual(ladder.audioChannels, 2, "5.1 is downmixed to stereo")
        XCTAssertTrue(ladder.rungs[1].reasons.contains { $0.field == "video" && $0.rule.contains("capped at 75% of the 3500 kbit/s tier") })
    }

    func testNeverUpscaleAndNeverAboveTheSourceFrameRate() throws {
        let ladder = try LadderPlanner.plan(dynamic, for: source(1280, 720, fps: 24))
        XCTAssertEqual(ladder.rungs.first?.name, "720p")
        XCTAssertEqual(ladder.dropped.first?.name, "1080p")
        XCTAssertTrue(ladder.dropped.first?.reason.contains("never upscale") == true)
        XCTAssertTrue(ladder.rungs.allSatisfy { $0.frameRate == 24 })
        let fast = try LadderPlanner.plan(dynamic, for: source(1280, 720, fps: 60))
        XCTAssertTrue(fast.rungs.allSatisfy { $0.frameRate == 30 }, "at most the preset's 30 fps")
    }

    func testOddTinyAndRotatedSources() throws {
        let odd = try LadderPlanner.plan(dynamic, for: source(321, 241))
        XCTAssertEqual(odd.rungs.map { "\($0.width)x\($0.height)" }, ["320x240"])
        let tiny = try LadderPlanner.plan(dynamic, for: source(99, 61))
        XCTAssertEqual(tiny.rungs.map { "\($0.width)x\($0.height)" }, ["98x60"], "a source below every rung gets one rung at its own size")
        XCTAssertTrue(tiny.rungs.allSatisfy { $0.width % 2 == 0 && $0.height % 2 == 0 })
        let portrait = try LadderPlanner.plan(dynamic, for: source(1920, 1080, rotation: 90))
        // Turned 90°: displayed 1080 wide and 1920 tall; the top rung is 1080 lines tall.
        XCTAssertEqual(portrait.rungs.first.map { "\($0.width)x\($0.height)" }, "608x1080")
    }

    func testLowBitrateRungsMayDropTo15FPSWithKeyframesAligned() throws {
        let ladder = try LadderPlanner.plan(mobile, for: source(1280, 720, fps: 30))
        let low = try XCTUnwrap(ladder.rungs.first { $0.name == "144p" })
        XCTAssertLessThan(low.totalBitrate, 100)
        XCTAssertEqual(low.frameRate, 15)
        XCTAssertEqual(low.frameStep, 2)
        XCTAssertEqual(low.gopFrames * low.frameStep, ladder.keyframeEvery)
        XCTAssertTrue(ladder.rungs.filter { $0.name != "144p" }.allSatisfy { $0.frameRate == 30 })
        XCTAssertTrue(ladder.rungs.allSatisfy { $0.profile == "baseline" })
        XCTAssertGreaterThanOrEqual(low.audioBitrate, 24)
    }

    func testInputsThePresetCannotUse() {
        XCTAssertThrowsError(try LadderPlanner.plan(dynamic, for: source(0, 0, video: false))) { error in
            XCTAssertTrue("\(error)".contains("has no video, and preset dynamic-streaming needs video"), "\(error)")
        }
        let audioPreset = try! PresetLibrary(folder: PresetTests.presetsFolder).preset("audio-only")
        XCTAssertThrowsError(try LadderPlanner.plan(audioPreset, for: source(640, 360, audio: false)))
        let audioLadder = try! LadderPlanner.plan(audioPreset, for: source(640, 360))
        XCTAssertEqual(audioLadder.rungs.map(\.name), ["aac-128", "mp3-128", "aac-64"])
        XCTAssertTrue(audioLadder.rungs.allSatisfy { !$0.hasVideo })
    }
}
