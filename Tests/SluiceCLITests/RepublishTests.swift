import Foundation
import SluiceTestSupport
import XCTest

/// Publishing or encoding an asset again replaces it as a whole: what the new version
/// does not have goes, after the new version is in place; a play of a removed rung that
/// is under way finishes.
final class RepublishTests: XCTestCase {
    func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-republish-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Audio presets with two rungs and with one, as preset files.
    func writePresets(in root: String) throws -> (two: String, one: String) {
        let common = "outputs: [flv]\nminimum-step: 1.0\naudio:\n  codec: aac\n  minimum-bitrate: 24\n  sample-rate: 44100\nrungs:\n"
        let two = root + "/two.yml", one = root + "/one.yml"
        try ("name: two\ndescription: two rungs\n" + common + "  - name: aac-128\n    tier: 200\n    audio-bitrate: 128\n"
             + "  - name: aac-64\n    tier: 100\n    audio-bitrate: 64\n").write(toFile: two, atomically: true, encoding: .utf8)
        try ("name: one\ndescription: one rung\n" + common + "  - name: aac-64\n    tier: 100\n    audio-bitrate: 64\n")
            .write(toFile: one, atomically: true, encoding: .utf8)
        return (two, one)
    }

    func publish(_ preset: String, root: String, data: String, keepOld: Bool = false) throws -> String {
        try "input: tune.mp3\npreset: \(preset)\nprefix: songs\n\(keepOld ? "keep-old: true\n" : "")"
            .write(toFile: root + "/job.yml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try SluiceProcess.run(["jobs", "submit", root + "/job.yml", "--data", data]).status, 0)
        let ran = try SluiceProcess.run(["jobs", "run", "--data", data])
        XCTAssertEqual(ran.status, 0, ran.output)
        return ran.output
    }

    func listing(_ data: String) throws -> [String] {
        try SluiceProcess.run(["bucket", "ls", "media/songs/tune/", "--data", data]).output.split(separator: "\n")
            .compactMap { $0.split(separator: " ").last.map(String.init) }.sorted()
    }

    func testPublishingWithASmallerLadderRemovesTheOldRungsAfterTheNewOnesLand() async throws {
        try ExternalTool.require("rtmpdump")
        let song = try await TestMedia.shared.path(.shortMP3)
        let root = try temporaryFolder()
        let data = root + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: song, toPath: root + "/tune.mp3")
        let presets = try writePresets(in: root)
        let (server, port, _, logFile) = try await ServeCommandTests.startServer(data: data)
        defer { server.terminate() }

        _ = try publish(presets.two, root: root, data: data)
        XCTAssertEqual(try listing(data), ["songs/tune/aac-128.flv", "songs/tune/aac-64.flv", "songs/tune/tune.f4m",
                                           "songs/tune/tune.json", "songs/tune/tune.smil"])
        XCTAssertEqual(try SluiceProcess.run(["bucket", "get", "media/songs/tune/aac-128.flv", root + "/old.flv", "--data", data]).status, 0)

        // A real-time play of the rung about to go (a 1 s buffer paces it over ~10 s).
        let played = root + "/played.flv"
        let player = Process()
        player.executableURL = URL(fileURLWithPath: try ExternalTool.require("rtmpdump"))
        player.arguments = ["-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "songs/tune/aac-128.flv", "-b", "1000", "-o", played]
        player.standardOutput = FileHandle.nullDevice
        player.standardError = FileHandle.nullDevice
        try player.run()
        defer { if player.isRunning { player.terminate() } }
        let deadline = Date().addingTimeInterval(20)
        while !((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "").contains("play media/songs/tune/aac-128.flv: playing") {
            guard Date() < deadline else { return XCTFail("the play did not start") }
            try await Task.sleep(for: .milliseconds(50))
        }

        let output = try publish(presets.one, root: root, data: data)
        XCTAssertTrue(output.contains("removed 1 object(s) of the previous version: aac-128.flv"), output)
        XCTAssertEqual(try listing(data), ["songs/tune/aac-64.flv", "songs/tune/tune.f4m", "songs/tune/tune.json", "songs/tune/tune.smil"])
        let f4m = try SluiceProcess.run(["bucket", "get", "media/songs/tune/tune.f4m", root + "/tune.f4m", "--data", data])
        XCTAssertEqual(f4m.status, 0)
        XCTAssertFalse(try String(contentsOfFile: root + "/tune.f4m", encoding: .utf8).contains("aac-128"))
        XCTAssertTrue(player.isRunning, "the play was still under way when its rung was removed")

        while player.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        let old = try FLVFile(path: root + "/old.flv").mediaKeptByLibrtmp.map(\.payload)
        XCTAssertEqual(try FLVFile(path: played).mediaKeptByLibrtmp.map(\.payload), old, "the play under way got the whole old rung")

        // --keep-old (keep-old in a job file) leaves what is there.
        _ = try publish(presets.two, root: root, data: data)
        _ = try publish(presets.one, root: root, data: data, keepOld: true)
        XCTAssertTrue(try listing(data).contains("songs/tune/aac-128.flv"))
    }

    func testEncodingAgainReplacesTheOutputFolder() async throws {
        let song = try await TestMedia.shared.path(.shortMP3)
        let root = try temporaryFolder()
        let presets = try writePresets(in: root)
        try FileManager.default.copyItem(atPath: song, toPath: root + "/tune.mp3")
        let out = root + "/encoded"
        func encode(_ preset: String, _ extra: [String] = []) throws -> String {
            let result = try SluiceProcess.run(["encode", root + "/tune.mp3", "--preset", preset, "--out", out] + extra)
            XCTAssertEqual(result.status, 0, result.output)
            return result.output
        }
        _ = try encode(presets.two)
        try Data("notes".utf8).write(to: URL(fileURLWithPath: out + "/tune/notes.txt"))
        let output = try encode(presets.one)
        XCTAssertTrue(output.contains("removed \(out)/tune/aac-128.flv"), output)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out + "/tune").sorted(),
                       ["aac-64.flv", "notes.txt", "tune.f4m", "tune.json", "tune.smil"], "what is not an encode's is left alone")
        _ = try encode(presets.two)
        _ = try encode(presets.one, ["--keep-old"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/tune/aac-128.flv"))
    }
}
