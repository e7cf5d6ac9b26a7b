import Foundation
import XCTest

/// Media made by the FFmpeg CLI for tests, once per test process, in a temporary folder.
/// Sources use `testsrc2` (detailed, so bitrates are real) and a sine tone.
public actor TestMedia {
    public static let shared = TestMedia()

    public let folder: String
    private var made: [String: String] = [:]

    init() {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-test-media-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    /// The kinds of file tests need.
    public enum Kind: String, CaseIterable, Sendable {
        /// 40 s H.264/AAC FLV, 2 s GOP, with FFmpeg's keyframe index in onMetaData.
        case flvIndexed = "indexed.flv"
        /// The same without a keyframe index (Sluice must scan).
        case flvPlain = "plain.flv"
        /// 12 s Sorenson H.263 + MP3 FLV.
        case flvH263 = "h263.flv"
        /// 30 s H.264 (with B-frames)/AAC MP4, moov after mdat (FFmpeg's default).
        case mp4MoovAtEnd = "moov-end.mp4"
        /// The same streams remuxed with moov first (faststart).
        case mp4MoovAtStart = "moov-start.mp4"
        /// 30 s MP3, 44.1 kHz stereo, with an ID3v2 tag.
        case mp3 = "song.mp3"
        /// 20 s 720p FLV (1.5 Mbit/s) for load tests.
        case flv720p = "hd.flv"
        /// 10 s 854x480 at 30 fps, stereo 48 kHz: a source for ladders.
        case source480 = "source480.mp4"
        /// 6 s 321x241 (odd) at 24 fps with 5.1 audio.
        case oddSurround = "odd-surround.mkv"
        /// 6 s 320x240 at 25 fps, no audio.
        case silentVideo = "silent.mp4"
        /// One 1920x1080 H.264 frame (coded as 1088 lines, cropped), no metadata.
        case flv1080Frame = "frame1080.flv"
        /// Two renditions of one 20 s asset (25 fps, keyframes every 2 s, aligned), as FLV
        /// and MP4, for play2 switching; and one whose keyframes fall elsewhere (every 1.48 s).
        case renditionHighFLV = "high.flv"
        case renditionLowFLV = "low.flv"
        case renditionHighMP4 = "high.mp4"
        case renditionLowMP4 = "low.mp4"
        case renditionUnaligned = "unaligned.flv"
        /// Short clips, where one frame is more than 0.1% of the duration: 6 s FLV and MP4
        /// (30 fps, audio running past the last frame), 10 s MP3.
        case shortFLV = "short.flv"
        case shortMP4 = "short.mp4"
        case shortMP3 = "short.mp3"
        /// A 30 s ladder at constant bitrates (1800, 800 and 250 kbit/s of video), for
        /// dynamic-streaming players under a throttled link.
        case abrHigh = "abr-high.flv"
        case abrMid = "abr-mid.flv"
        case abrLow = "abr-low.flv"

        var arguments: [String] {
            let video = ["-f", "lavfi", "-i"]
            switch self {
            case .flvIndexed, .flvPlain:
                return video + ["testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "40",
                                "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "200k", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
                                "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"]
                    + (self == .flvIndexed ? ["-flvflags", "add_keyframe_index"] : [])
            case .flvH263:
                return video + ["testsrc2=size=352x288:rate=25", "-f", "lavfi", "-i", "sine=frequency=660:sample_rate=44100", "-t", "12",
                                "-c:v", "flv1", "-b:v", "300k", "-g", "50", "-c:a", "libmp3lame", "-b:a", "64k", "-ar", "44100"]
            case .mp4MoovAtEnd:
                return video + ["testsrc2=size=426x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=550:sample_rate=48000", "-t", "30",
                                "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-b:v", "250k", "-g", "50", "-pix_fmt", "yuv420p",
                                "-c:a", "aac", "-b:a", "64k"]
            case .mp4MoovAtStart:
                return []  // remuxed from mp4MoovAtEnd, see path(_:)
            case .mp3:
                return ["-f", "lavfi", "-i", "sine=frequency=330:sample_rate=44100", "-t", "30", "-ac", "2",
                        "-c:a", "libmp3lame", "-b:a", "128k", "-id3v2_version", "3", "-metadata", "title=Sluice test tone"]
            case .source480:
                return video + ["testsrc2=size=854x480:rate=30", "-f", "lavfi", "-i", "sine=frequency=500:sample_rate=48000", "-t", "10",
                                "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k"]
            case .oddSurround:
                return video + ["testsrc2=size=321x241:rate=24", "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=44100", "-t", "6",
                                "-af", "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18",
                                "-pix_fmt", "yuv444p", "-c:a", "aac", "-b:a", "256k"]
            case .silentVideo:
                return video + ["testsrc2=size=320x240:rate=25", "-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
            case .flv1080Frame:
                return video + ["testsrc2=size=1920x1080:rate=25", "-frames:v", "1", "-c:v", "libx264", "-preset", "ultrafast",
                                "-pix_fmt", "yuv420p", "-flvflags", "no_metadata"]
            case .renditionHighFLV, .renditionLowFLV, .renditionHighMP4, .renditionLowMP4, .renditionUnaligned:
                let high = self == .renditionHighFLV || self == .renditionHighMP4
                let size = high ? "320x240" : "160x120"
                let gop = self == .renditionUnaligned ? "37" : "50"
                return video + ["testsrc2=size=\(size):rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "20",
                                "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-b:v", high ? "300k" : "100k",
                                "-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"]
            case .shortFLV, .shortMP4:
                return video + ["testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "6",
                                "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"]
            case .abrHigh, .abrMid, .abrLow:
                let (size, rate) = self == .abrHigh ? ("640x360", "1800k") : self == .abrMid ? ("480x270", "800k") : ("320x180", "250k")
                return video + ["testsrc2=size=\(size):rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "30",
                                "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-b:v", rate, "-minrate", rate, "-maxrate", rate,
                                "-bufsize", rate, "-x264-params", "nal-hrd=cbr", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
                                "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"]
            case .shortMP3:
                return ["-f", "lavfi", "-i", "sine=frequency=330:sample_rate=44100", "-t", "10", "-c:a", "libmp3lame", "-b:a", "64k"]
            case .flv720p:
                return video + ["testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "20",
                                "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1500k", "-maxrate", "1500k", "-bufsize", "3000k",
                                "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-flvflags", "add_keyframe_index"]
            }
        }
    }

    /// The path of a generated file of that kind (made on first use).
    public func path(_ kind: Kind) async throws -> String {
        if let existing = made[kind.rawValue] { return existing }
        try ExternalTool.require("ffmpeg")
        let target = folder + "/" + kind.rawValue
        var arguments = kind.arguments
        if kind == .mp4MoovAtStart {
            // Same encoded streams, only the box order differs.
            arguments = ["-i", try await path(.mp4MoovAtEnd), "-c", "copy", "-movflags", "+faststart"]
        }
        let result = try await ExternalTool.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error"] + arguments + [target], timeout: 120)
        guard result.status == 0 else {
            throw MediaGenerationError(description: "ffmpeg could not make \(kind.rawValue): \(result.standardError)")
        }
        made[kind.rawValue] = target
        return target
    }

    /// A bucket folder holding the given kinds under their names (and under `videos/`), as
    /// hard links (a symbolic link leading out of a bucket is refused, as it should be),
    /// for servers under test.
    public func bucketRoot(_ kinds: [Kind]) async throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-buckets-\(UUID().uuidString)").path
        let bucket = root + "/media"
        try FileManager.default.createDirectory(atPath: bucket + "/videos", withIntermediateDirectories: true)
        for kind in kinds {
            let source = try await path(kind)
            try FileManager.default.linkItem(atPath: source, toPath: bucket + "/" + kind.rawValue)
            try FileManager.default.linkItem(atPath: source, toPath: bucket + "/videos/" + kind.rawValue)
        }
        return root
    }

    public struct MediaGenerationError: Error, CustomStringConvertible {
        public var description: String
    }
}
