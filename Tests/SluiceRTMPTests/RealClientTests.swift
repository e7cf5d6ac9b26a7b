import Foundation
import SluiceMedia
import SluiceRTMP
import SluiceTestSupport
import XCTest

/// The server against peers we did not write: rtmpdump (librtmp) and ffprobe (FFmpeg).
final class RealClientTests: XCTestCase {
    private func temporaryFile(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("sluice-\(UUID().uuidString)-\(name)").path
    }

    /// The variants rtmpdump speaks to the RTMP port: plain, and RTMPE (the digest
    /// handshake with a Diffie-Hellman exchange, then RC4 both ways).
    static let variants = ["rtmp", "rtmpe"]

    func testRtmpdumpDownloadsWholeFLVWithIdenticalPayloads() async throws {
        for scheme in Self.variants {
            try await downloadWholeFLV(scheme: scheme)
        }
    }

    func downloadWholeFLV(scheme: String) async throws {
        try ExternalTool.require("rtmpdump")
        let root = try await TestMedia.shared.bucketRoot([.flvIndexed])
        let server = try await TestServer.start(bucketRoot: root)
        defer { Task { await server.stop() } }
        let output = temporaryFile("out.flv")
        let result = try await ExternalTool.run(["timeout", "-s", "KILL", "60", "rtmpdump", "-r", server.url(scheme: scheme), "-y", "indexed.flv",
                                                 "-o", output], timeout: 70)
        XCTAssertEqual(result.status, 0, "\(scheme): \(result.standardError)")
        XCTAssertTrue(result.standardError.contains("Download complete"), result.standardError)

        let source = try FLVFile(path: try await TestMedia.shared.path(.flvIndexed)).mediaKeptByLibrtmp
        let received = try FLVFile(path: output).mediaKeptByLibrtmp
        let sourceVideo = source.filter { $0.type == .video }, receivedVideo = received.filter { $0.type == .video }
        let sourceAudio = source.filter { $0.type == .audio }, receivedAudio = received.filter { $0.type == .audio }
        XCTAssertGreaterThan(sourceVideo.count, 900)
        XCTAssertEqual(receivedVideo.count, sourceVideo.count)
        XCTAssertEqual(receivedAudio.count, sourceAudio.count)
        XCTAssertTrue(receivedVideo.map(\.payload) == sourceVideo.map(\.payload), "video payloads differ")
        XCTAssertTrue(receivedAudio.map(\.payload) == sourceAudio.map(\.payload), "audio payloads differ")
        XCTAssertEqual(receivedVideo.map(\.timestamp), sourceVideo.map(\.timestamp))
        // The duration players get ends at the last tag (the file's runs one frame past it).
        let sourceDuration = try FLVFile(path: try await TestMedia.shared.path(.flvIndexed)).metadata?["duration"]?.doubleValue ?? -1
        let lastTag = Double(source.map(\.timestamp).max() ?? 0) / 1000
        let receivedDuration = try FLVFile(path: output).metadata?["duration"]?.doubleValue ?? 0
        XCTAssertEqual(receivedDuration, lastTag, accuracy: 0.001)
        XCTAssertLessThanOrEqual(sourceDuration - receivedDuration, 0.05)
    }

    /// librtmp's bandwidth check, with rtmpdump: the server calls onBWDone after connect,
    /// rtmpdump calls _checkbw, answers every _onbwcheck, and gets _onbwdone.
    func testRtmpdumpRunsLibrtmpsBandwidthCheck() async throws {
        try ExternalTool.require("rtmpdump")
        let root = try await TestMedia.shared.bucketRoot([.renditionLowFLV])
        let server = try await TestServer.start(bucketRoot: root) { $0.session.announceBandwidthCheck = true }
        defer { Task { await server.stop() } }
        // Paced (a 1 s buffer) and stopped after 3 s: a whole-file download would end first.
        let result = try await ExternalTool.run(["rtmpdump", "-V", "-b", "1000", "-B", "3", "-r", server.url, "-y", "low.flv",
                                                 "-o", "/dev/null"], timeout: 30)
        for line in ["server invoking <onBWDone>", "Invoking _checkbw", "server invoking <_onbwcheck>", "server invoking <_onbwdone>"] {
            XCTAssertTrue(result.standardError.contains(line), "no '\(line)'")
        }
        let quiet = try await TestServer.start(bucketRoot: root)
        defer { Task { await quiet.stop() } }
        let plain = try await ExternalTool.run(["rtmpdump", "-V", "-r", quiet.url, "-y", "low.flv", "-o", "/dev/null"], timeout: 30)
        XCTAssertFalse(plain.standardError.contains("_onbwcheck"), "off by default")
    }

    /// rtmpdump calls a download complete only when the last timestamp reaches 99.9% of
    /// onMetaData's duration; on short clips one frame more was "incomplete", exit status 2.
    func testRtmpdumpCallsShortClipsComplete() async throws {
        try ExternalTool.require("rtmpdump")
        let root = try await TestMedia.shared.bucketRoot([.shortFLV, .shortMP4, .shortMP3, .renditionLowFLV])
        let server = try await TestServer.start(bucketRoot: root)
        defer { Task { await server.stop() } }
        for playpath in ["short.flv", "mp4:short.mp4", "mp3:short.mp3", "low.flv"] {
            let result = try await ExternalTool.run(["rtmpdump", "-r", server.url, "-y", playpath, "-o", "/dev/null"], timeout: 30)
            XCTAssertEqual(result.status, 0, "\(playpath): \(result.standardError)")
            XCTAssertTrue(result.standardError.contains("Download complete"), "\(playpath): \(result.standardError)")
        }
    }

    func testRtmpdumpStartAt30SecondsBeginsAtKeyframeAtOrBefore() async throws {
        try ExternalTool.require("rtmpdump")
        for kind in [TestMedia.Kind.flvIndexed, .flvPlain] {
            for scheme in Self.variants {
                let root = try await TestMedia.shared.bucketRoot([kind])
                let server = try await TestServer.start(bucketRoot: root)
                let output = temporaryFile("seek.flv")
                let result = try await ExternalTool.run(["timeout", "-s", "KILL", "60", "rtmpdump", "-r", server.url(scheme: scheme), "-y", kind.rawValue,
                                                         "-A", "30", "-o", output], timeout: 70)
                await server.stop()
                XCTAssertNotEqual(result.status, 1, result.standardError)
                let source = try FLVFile(path: try await TestMedia.shared.path(kind))
                let expectedKeyframe = source.video.filter { $0.isKeyframe && !$0.isSequenceHeader && $0.timestamp <= 30000 }.last!.timestamp
                let received = try FLVFile(path: output)
                let firstFrame = try XCTUnwrap(received.video.first { !$0.isSequenceHeader }, "no video received for \(kind)")
                XCTAssertTrue(firstFrame.isKeyframe, "\(kind): playback did not start on a keyframe")
                // The server sends stream time, as for a seek; rtmpdump writes each tag at the
                // requested start plus that time (rtmpdump.c sets nResumeTS to the -A offset).
                XCTAssertEqual(firstFrame.timestamp, 30000 + expectedKeyframe, "\(kind)")
                XCTAssertTrue(received.video.first?.isSequenceHeader == true, "\(kind): no AVC sequence header before the frames")
                // Everything from that keyframe on arrived, identical.
                let expected = FLVFile.keptByLibrtmp(source.video.filter { !$0.isSequenceHeader && $0.timestamp >= expectedKeyframe })
                XCTAssertTrue(received.video.filter { !$0.isSequenceHeader }.map(\.payload) == expected.map(\.payload), "\(kind) \(scheme): frames differ")
            }
        }
    }

    func testFfprobeReadsMP4AndMP3() async throws {
        try ExternalTool.require("ffprobe")
        let root = try await TestMedia.shared.bucketRoot([.mp4MoovAtEnd, .mp4MoovAtStart, .mp3])
        let server = try await TestServer.start(bucketRoot: root)
        defer { Task { await server.stop() } }
        let probe = ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
        for name in ["moov-end.mp4", "moov-start.mp4"] {
            let result = try await ExternalTool.run(probe + ["\(server.url)/\(name)"], timeout: 30)
            XCTAssertEqual(result.status, 0, "\(name): \(result.standardError)")
            let json = try JSONSerialization.jsonObject(with: result.standardOutput) as? [String: Any]
            let streams = json?["streams"] as? [[String: Any]] ?? []
            let video = streams.first { $0["codec_type"] as? String == "video" }
            let audio = streams.first { $0["codec_type"] as? String == "audio" }
            XCTAssertEqual(video?["codec_name"] as? String, "h264", name)
            XCTAssertEqual(video?["width"] as? Int, 426, name)
            XCTAssertEqual(video?["height"] as? Int, 240, name)
            XCTAssertEqual(audio?["codec_name"] as? String, "aac", name)
            XCTAssertEqual(audio?["sample_rate"] as? String, "48000", name)
            let duration = Double((json?["format"] as? [String: Any])?["duration"] as? String ?? "0") ?? 0
            XCTAssertEqual(duration, 30, accuracy: 0.2, name)
        }
        let result = try await ExternalTool.run(probe + ["-rtmp_playpath", "mp3:song", "\(server.url)"], timeout: 30)
        XCTAssertEqual(result.status, 0, result.standardError)
        let json = try JSONSerialization.jsonObject(with: result.standardOutput) as? [String: Any]
        let audio = (json?["streams"] as? [[String: Any]])?.first
        XCTAssertEqual(audio?["codec_name"] as? String, "mp3")
        XCTAssertEqual(audio?["sample_rate"] as? String, "44100")
        XCTAssertEqual(audio?["channels"] as? Int, 2)
        let duration = Double((json?["format"] as? [String: Any])?["duration"] as? String ?? "0") ?? 0
        XCTAssertEqual(duration, 30, accuracy: 0.2)
    }

    func testRtmpdumpPlaysMP4AndMP3Playpaths() async throws {
        try ExternalTool.require("rtmpdump")
        try ExternalTool.require("ffprobe")
        let root = try await TestMedia.shared.bucketRoot([.mp4MoovAtEnd, .mp4MoovAtStart, .mp3])
        let server = try await TestServer.start(bucketRoot: root)
        defer { Task { await server.stop() } }
        let plays = ["mp4:moov-end.mp4", "mp4:moov-start", "mp4:videos/moov-end", "mp3:song", "mp3:song.mp3", "mp3:videos/song"].map { ("rtmp", $0) }
            + [("rtmpe", "mp4:moov-start"), ("rtmpe", "mp3:song")]
        for (scheme, playpath) in plays {
            let output = temporaryFile("out.flv")
            let result = try await ExternalTool.run(["timeout", "-s", "KILL", "60", "rtmpdump", "-r", server.url(scheme: scheme), "-y", playpath,
                                                     "-o", output], timeout: 70)
            XCTAssertEqual(result.status, 0, "\(playpath): \(result.standardError)")
            let probe = try await ExternalTool.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", output])
            let codecs = Set(probe.output.split(separator: "\n").map(String.init))
            XCTAssertEqual(codecs, playpath.hasPrefix("mp3:") ? ["mp3"] : ["h264", "aac"], playpath)
        }
    }

    func testMissingStreamEndsQuicklyWithStreamNotFound() async throws {
        try ExternalTool.require("rtmpdump")
        let root = try await TestMedia.shared.bucketRoot([])
        let server = try await TestServer.start(bucketRoot: root)
        defer { Task { await server.stop() } }
        for name in ["nothing-here.flv", "mp4:missing", "../escape.flv", "/etc/passwd"] {
            let result = try await ExternalTool.run(["rtmpdump", "-z", "-r", server.url, "-y", name, "-o", "/dev/null"], timeout: 20)
            XCTAssertNotEqual(result.status, 0, name)
            XCTAssertLessThan(result.seconds, 5, "\(name): rtmpdump took \(result.seconds) s to give up")
            XCTAssertTrue(result.standardError.contains("NetStream.Play.StreamNotFound"), "\(name): \(result.standardError)")
        }
    }

    func testWrongApplicationIsRejectedWithInvalidInstance() async throws {
        try ExternalTool.require("rtmpdump")
        let root = try await TestMedia.shared.bucketRoot([.flvIndexed])
        let server = try await TestServer.start(bucketRoot: root)
        defer { Task { await server.stop() } }
        for url in ["rtmp://127.0.0.1:\(server.port)/vod/", "rtmp://127.0.0.1:\(server.port)/cfx/other/"] {
            let result = try await ExternalTool.run(["rtmpdump", "-z", "-r", url, "-y", "indexed.flv", "-o", "/dev/null"], timeout: 20)
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.standardError.contains("InvalidInstance"), "\(url): \(result.standardError)")
            XCTAssertTrue(result.standardError.contains("NetConnection.Connect.Rejected"), result.standardError)
        }
    }

    func testTwentyRtmpdumpClientsAtOnceAllComplete() async throws {
        for scheme in Self.variants {
            try await twentyClients(scheme: scheme)
        }
    }

    func twentyClients(scheme: String) async throws {
        try ExternalTool.require("rtmpdump")
        let root = try await TestMedia.shared.bucketRoot([.flvIndexed])
        let server = try await TestServer.start(bucketRoot: root)
        defer { Task { await server.stop() } }
        let expectedBytes = try FLVFile(path: try await TestMedia.shared.path(.flvIndexed)).mediaKeptByLibrtmp.reduce(0) { $0 + $1.payload.count }
        let results = try await withThrowingTaskGroup(of: (ExternalTool.Result, Int).self) { group in
            for index in 0..<20 {
                let output = temporaryFile("c\(index).flv")
                group.addTask {
                    let result = try await ExternalTool.run(["timeout", "-s", "KILL", "90", "rtmpdump", "-q", "-r", server.url(scheme: scheme), "-y",
                                                             "videos/indexed.flv", "-o", output], timeout: 100)
                    let received = (try? FLVFile(path: output))?.mediaKeptByLibrtmp.reduce(0) { $0 + $1.payload.count } ?? -1
                    return (result, received)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(results.count, 20)
        for (result, received) in results {
            XCTAssertEqual(result.status, 0, result.standardError)
            XCTAssertEqual(received, expectedBytes)
        }
    }
}
