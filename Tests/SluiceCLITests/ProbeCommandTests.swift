import Foundation
import SluiceTestSupport
import XCTest

/// `sluice probe` against the server: the timeline, the bandwidth check under a
/// throttled link, play2 switching across ladders `sluice encode` makes (FLV and MP4),
/// and a dynamic-streaming player under a link that slows down and recovers.
final class ProbeCommandTests: XCTestCase {
    private func temporaryFolder() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-probe-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path + "/media", withIntermediateDirectories: true)
        return path
    }

    /// Runs `sluice probe` with `--json`; the status and the report.
    private func probe(_ arguments: [String], timeout: Int = 90) async throws -> (status: Int32, report: [String: Any], log: String) {
        let result = try await ExternalTool.run([SluiceProcess.executable, "probe", "--json"] + arguments, timeout: timeout)
        let report = (try? JSONSerialization.jsonObject(with: result.standardOutput) as? [String: Any]) ?? [:]
        return (result.status, report, result.standardError)
    }

    /// Encodes a source (the 10 s 480p one by default) with `preset` into ROOT/media/ASSET/.
    private func encode(preset: String, into root: String, source kind: TestMedia.Kind = .source480) async throws {
        let source = try await TestMedia.shared.path(kind)
        let transcoder = URL(fileURLWithPath: SluiceProcess.executable).deletingLastPathComponent().appendingPathComponent("sluice-transcode").path
        let result = try await ExternalTool.run([transcoder, "encode", source, "--preset", preset, "--out", root + "/media"], timeout: 120)
        XCTAssertEqual(result.status, 0, result.standardError)
    }

    private func switches(_ report: [String: Any]) -> [[String: Any]] { report["switches"] as? [[String: Any]] ?? [] }

    /// Every switch completed (or was refused at the very end), and the timeline held.
    private func checkWalk(_ run: (status: Int32, report: [String: Any], log: String), minimumSwitches: Int,
                           frameMilliseconds: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(run.status, 0, run.log, file: file, line: line)
        let done = switches(run.report).filter { $0["wallSeconds"] != nil }
        XCTAssertGreaterThanOrEqual(done.count, minimumSwitches, run.log, file: file, line: line)
        for item in done {
            // The first new frame: at most one keyframe interval (2 s) past what had been received.
            XCTAssertLessThanOrEqual(item["mediaWait"] as? Int ?? .max, 2000 + 4000 + 1000, "\(item)", file: file, line: line)
        }
        XCTAssertEqual(run.report["timelineErrors"] as? Int, 0, run.log, file: file, line: line)
        XCTAssertLessThanOrEqual(run.report["largestVideoGap"] as? Int ?? .max, frameMilliseconds + 1, run.log, file: file, line: line)
        XCTAssertEqual((run.report["errors"] as? [String])?.isEmpty, true, run.log, file: file, line: line)
    }

    func testProbePlaysAndPrintsATimeline() async throws {
        let root = try await TestMedia.shared.bucketRoot([.renditionLowFLV])
        let server = try await TestServer.start(bucketRoot: root)
        defer { Task { await server.stop() } }
        let result = try await ExternalTool.run([SluiceProcess.executable, "probe", server.url + "/low.flv", "--duration", "2"], timeout: 30)
        XCTAssertEqual(result.status, 0, result.output)
        for text in ["digest handshake verified", "NetConnection.Connect.Success", "bandwidth:", "NetStream.Play.Start", "first frame at media time"] {
            XCTAssertTrue(result.output.contains(text), "no '\(text)' in \(result.output)")
        }
        let missing = try await probe([server.url + "/nowhere.flv"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue((missing.report["errors"] as? [String])?.first?.contains("StreamNotFound") == true, missing.log)
    }

    func testBandwidthOfAThrottledLinkIsMeasuredWithinAQuarter() async throws {
        let root = try await TestMedia.shared.bucketRoot([.renditionLowFLV])
        let server = try await TestServer.start(bucketRoot: root)
        defer { Task { await server.stop() } }
        for kilobits in [2000.0, 800] {
            let run = try await probe([server.url + "/low.flv", "--throttle", "\(Int(kilobits))", "--duration", "1"])
            XCTAssertEqual(run.status, 0, run.log)
            let measured = try XCTUnwrap(run.report["bandwidthKilobits"] as? Double, run.log)
            XCTAssertEqual(measured, kilobits, accuracy: kilobits * 0.25, run.log)
        }
    }

    func testSwitchingAcrossAnEncodedFLVLadder() async throws {
        let root = temporaryFolder()
        try await encode(preset: "dynamic-streaming", into: root)
        let server = try await TestServer.start(bucketRoot: root)
        defer { Task { await server.stop() } }
        let run = try await probe([server.url + "/source480/480p", "--manifest", root + "/media/source480/source480.json",
                                   "--switch-every", "1.5", "--buffer", "1"])
        // Down 480p → 360p → 240p and back up, on a 10 s clip at 30 fps.
        checkWalk(run, minimumSwitches: 3, frameMilliseconds: 34)
        let names = Set(run.report["renditions"] as? [String] ?? [])
        XCTAssertEqual(names, ["source480/480p", "source480/360p", "source480/240p"], run.log)
    }

    func testSwitchingBetweenMP4AndFLVRenditions() async throws {
        let root = temporaryFolder()
        try await encode(preset: "mobile", into: root)
        let server = try await TestServer.start(bucketRoot: root)
        defer { Task { await server.stop() } }
        // mobile makes 240p and a half-rate 144p, each as FLV and MP4.
        let manifest = root + "/mixed.json"
        let ladder: [String: Any] = ["rungs": [
            ["stream": "mp4:source480/240p.mp4", "videoBitrate": 300, "audioBitrate": 48],
            ["stream": "source480/144p", "videoBitrate": 100, "audioBitrate": 48],
            ["stream": "mp4:source480/144p.mp4", "videoBitrate": 90, "audioBitrate": 48],
        ]]
        try JSONSerialization.data(withJSONObject: ladder).write(to: URL(fileURLWithPath: manifest))
        let run = try await probe([server.url + "/x", "--manifest", manifest, "--switch-every", "1.5", "--buffer", "1"])
        // The half-rate rung's frames are 67 ms apart.
        checkWalk(run, minimumSwitches: 3, frameMilliseconds: 84)
    }

    /// rtmpdump calls a download complete only when the last timestamp reaches 99.9% of the
    /// duration it was told: every rung of short encodes, audio-only ones included.
    func testRtmpdumpCompletesEveryEncodedRungOfShortSources() async throws {
        try ExternalTool.require("rtmpdump")
        let root = temporaryFolder()
        try await encode(preset: "dynamic-streaming", into: root, source: .shortMP4)
        try await encode(preset: "audio-only", into: root + "/audio", source: .shortMP4)
        try FileManager.default.moveItem(atPath: root + "/audio/media/short", toPath: root + "/media/short-audio")
        let server = try await TestServer.start(bucketRoot: root)
        defer { Task { await server.stop() } }
        var rungs: [String] = []
        for folder in ["short", "short-audio"] {
            for file in try FileManager.default.contentsOfDirectory(atPath: root + "/media/" + folder) where file.hasSuffix(".flv") {
                rungs.append(folder + "/" + file)
            }
        }
        XCTAssertGreaterThanOrEqual(rungs.count, 2, "\(rungs)")
        for rung in rungs {
            let result = try await ExternalTool.run(["rtmpdump", "-r", server.url, "-y", rung, "-o", "/dev/null"], timeout: 30)
            XCTAssertEqual(result.status, 0, "\(rung): \(result.standardError)")
            XCTAssertTrue(result.standardError.contains("Download complete"), "\(rung): \(result.standardError)")
        }
    }

    func testAdaptivePlayerGoesDownWhenTheLinkSlowsAndBackUpWhenItRecovers() async throws {
        let root = try await TestMedia.shared.bucketRoot([.abrHigh, .abrMid, .abrLow])
        let server = try await TestServer.start(bucketRoot: root)
        defer { Task { await server.stop() } }
        let manifest = temporaryFolder() + "/ladder.json"
        let ladder: [String: Any] = ["rungs": [
            ["stream": "abr-high.flv", "videoBitrate": 1800, "audioBitrate": 64],
            ["stream": "abr-mid.flv", "videoBitrate": 800, "audioBitrate": 64],
            ["stream": "abr-low.flv", "videoBitrate": 250, "audioBitrate": 64],
        ]]
        try JSONSerialization.data(withJSONObject: ladder).write(to: URL(fileURLWithPath: manifest))
        let run = try await probe([server.url + "/abr-high.flv", "--manifest", manifest, "--abr", "--buffer", "2",
                                   "--throttle", "3000,@3:500,@8:4000"], timeout: 120)
        XCTAssertEqual(run.status, 0, run.log)
        let played = run.report["renditions"] as? [String] ?? []
        XCTAssertEqual(played.first, "abr-high.flv", "3000 kbit/s carries the top rung: \(run.log)")
        let down = try XCTUnwrap(played.firstIndex { $0 != "abr-high.flv" }, "never went down: \(run.log)")
        XCTAssertTrue(played[down...].contains("abr-high.flv"), "never came back up: \(run.log)")
        XCTAssertEqual(run.report["timelineErrors"] as? Int, 0, run.log)
        XCTAssertLessThanOrEqual(run.report["largestVideoGap"] as? Int ?? .max, 41, run.log)
        XCTAssertEqual(run.report["mediaTime"] as? Int ?? 0, 30_000, accuracy: 100, "played to the end: \(run.log)")
    }
}
