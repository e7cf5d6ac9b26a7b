import SluiceYAML
import Yams

/// An encoding preset: the rules that turn one source into a ladder of renditions.
///
/// Presets state rules rather than only numbers (Adobe's and Akamai's guidance for
/// FMS dynamic streaming): a bitrate per pixel or the Kush gauge, bandwidth tiers whose
/// share a rung may use, a floor for audio, frame-rate rules, never upscaling, and a
/// fixed keyframe interval shared by every rung so players can switch at keyframes.
public struct Preset: Sendable, Equatable {
    public enum VideoBitrateRule: Sendable, Equatable {
        /// Kush Amerasinghe's gauge: width × height × fps × motion rank × 0.07 bit/s.
        case kushGauge(motionRank: Double)
        /// A target number of bits per pixel per frame.
        case bitsPerPixel(Double)
    }

    public enum AudioCodec: String, Sendable, Equatable, CaseIterable {
        case aac, mp3
    }

    public enum OutputContainer: String, Sendable, Equatable, CaseIterable {
        case flv, mp4
    }

    public struct Video: Sendable, Equatable {
        public var bitrateRule: VideoBitrateRule
        /// x264's speed preset (ultrafast … placebo).
        public var encoderPreset: String
        public var maximumFrameRate: Double
        /// Under this total bitrate (kbit/s) the frame rate may drop to `lowFrameRate`.
        public var lowBitrateThreshold: Double
        public var lowFrameRate: Double
        /// Above this total bitrate (kbit/s) the frame rate is at least `minimumHighFrameRate`
        /// (when the source has it).
        public var highBitrateThreshold: Double
        public var minimumHighFrameRate: Double
    }

    public struct Audio: Sendable, Equatable {
        public var codec: AudioCodec
        /// kbit/s; the Flash video primer's floor.
        public var minimumBitrate: Double
        public var sampleRate: Int
    }

    public struct Rung: Sendable, Equatable {
        public var name: String
        /// Picture height in lines; nil for audio-only rungs.
        public var height: Int?
        /// The viewer bandwidth this rung is for, kbit/s.
        public var tier: Double
        public var audioBitrate: Double
        /// A fixed video bitrate (kbit/s) instead of the rule's.
        public var videoBitrate: Double?
        public var profile: String
        public var level: String
        public var audioCodec: AudioCodec?
    }

    public var name: String
    public var summary: String
    public var outputs: [OutputContainer]
    /// Seconds between keyframes, the same in every rung.
    public var keyframeInterval: Double
    /// A rung's total bitrate is at most this share of its bandwidth tier.
    public var bandwidthShare: Double
    /// A rung is dropped when its total bitrate is not at least this factor below the
    /// rung above it (close steps make players switch for nothing).
    public var minimumStep: Double
    public var video: Video?
    public var audio: Audio
    public var rungs: [Rung]

    public var isAudioOnly: Bool { video == nil }

    static let profiles = ["baseline", "main", "high"]
    static let levels = ["1", "1b", "1.1", "1.2", "1.3", "2", "2.1", "2.2", "3", "3.0", "3.1", "3.2", "4", "4.0", "4.1", "4.2", "5", "5.0", "5.1", "5.2"]
    static let encoderPresets = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"]

    /// Parses a preset file's text; `file` names it in errors.
    public static func parse(_ text: String, file: String) throws(PresetError) -> Preset {
        let root: Yams.Node
        do {
            guard let node = try YAMLText.compose(text) else { throw PresetError(file: file, line: nil, reason: "the file is empty") }
            root = node
        } catch let error as PresetError {
            throw error
        } catch let error as YamlError {
            throw PresetError(file: file, line: Self.line(of: error), reason: "not valid YAML: \(Self.problem(of: error))")
        } catch {
            throw PresetError(file: file, line: nil, reason: "not valid YAML: \(error)")
        }
        let top = try YAMLMapping(root, file: file, context: "preset")
        try top.onlyKeys(["name", "description", "outputs", "keyframe-interval", "bandwidth-share", "minimum-step", "video", "audio", "rungs"])

        var outputs: [OutputContainer] = [.flv]
        if let list = try top.sequence("outputs") {
            outputs = []
            for node in list {
                guard let text = node.string, let container = OutputContainer(rawValue: text) else {
                    throw top.error("preset.outputs: '\(node.string ?? "?")' is not one of flv, mp4", at: node)
                }
                outputs.append(container)
            }
            guard !outputs.isEmpty else { throw top.error("preset.outputs must name flv, mp4 or both", at: top.value("outputs")) }
        }

        var video: Video?
        if let rules = try top.mapping("video") {
            try rules.onlyKeys(["bitrate-rule", "motion-rank", "bits-per-pixel", "encoder-preset", "maximum-frame-rate",
                                "low-bitrate-threshold", "low-frame-rate", "high-bitrate-threshold", "minimum-high-frame-rate"])
            let ruleName = try rules.string("bitrate-rule") ?? "kush-gauge"
            let rule: VideoBitrateRule
            switch ruleName {
            case "kush-gauge":
                let rank = try rules.number("motion-rank", in: 1...4) ?? 2
                guard [1, 2, 4].contains(rank) else {
                    throw rules.error("preset.video.motion-rank must be 1 (low), 2 (medium) or 4 (high motion)", at: rules.value("motion-rank"))
                }
                rule = .kushGauge(motionRank: rank)
            case "bits-per-pixel":
                guard let bpp = try rules.number("bits-per-pixel", in: 0.01...2) else {
                    throw rules.error("preset.video: bitrate-rule bits-per-pixel needs 'bits-per-pixel'")
                }
                rule = .bitsPerPixel(bpp)
            default:
                throw rules.error("preset.video.bitrate-rule must be kush-gauge or bits-per-pixel, not '\(ruleName)'", at: rules.value("bitrate-rule"))
            }
            let encoderPreset = try rules.string("encoder-preset") ?? "veryfast"
            guard encoderPresets.contains(encoderPreset) else {
                throw rules.error("preset.video.encoder-preset must be one of \(encoderPresets.joined(separator: ", "))", at: rules.value("encoder-preset"))
            }
            video = Video(
                bitrateRule: rule, encoderPreset: encoderPreset,
                maximumFrameRate: try rules.number("maximum-frame-rate", in: 1...120) ?? 30,
                lowBitrateThreshold: try rules.number("low-bitrate-threshold", in: 0...100_000) ?? 100,
                lowFrameRate: try rules.number("low-frame-rate", in: 1...120) ?? 15,
                highBitrateThreshold: try rules.number("high-bitrate-threshold", in: 0...100_000) ?? 300,
                minimumHighFrameRate: try rules.number("minimum-high-frame-rate", in: 1...120) ?? 25)
        }

        var audio = Audio(codec: .aac, minimumBitrate: 24, sampleRate: 44100)
        if let rules = try top.mapping("audio") {
            try rules.onlyKeys(["codec", "minimum-bitrate", "sample-rate"])
            if let codec = try rules.string("codec") {
                guard let parsed = AudioCodec(rawValue: codec) else {
                    throw rules.error("preset.audio.codec must be aac or mp3, not '\(codec)'", at: rules.value("codec"))
                }
                audio.codec = parsed
            }
            audio.minimumBitrate = try rules.number("minimum-bitrate", in: 8...512) ?? 24
            if let rate = try rules.number("sample-rate", in: 8000...96000) {
                guard [44100, 48000, 22050, 11025].contains(Int(rate)) else {
                    throw rules.error("preset.audio.sample-rate must be 44100, 48000, 22050 or 11025 (rates FLV can state)", at: rules.value("sample-rate"))
                }
                audio.sampleRate = Int(rate)
            }
        }

        guard let rungNodes = try top.sequence("rungs"), !rungNodes.isEmpty else {
            throw top.error("preset needs 'rungs', a list of at least one rendition")
        }
        var rungs: [Rung] = []
        for node in rungNodes {
            let rung = try YAMLMapping(node, file: file, context: "rung \(rungs.count + 1)")
            try rung.onlyKeys(["name", "height", "tier", "audio-bitrate", "video-bitrate", "profile", "level", "audio-codec"])
            let name = try rung.requiredString("name")
            let height = try rung.number("height", in: 16...4320).map { Int($0) }
            if video != nil, height == nil { throw rung.error("rung '\(name)' needs 'height' (this preset has video)") }
            if video == nil, height != nil { throw rung.error("rung '\(name)': 'height' needs a 'video' section in the preset", at: rung.value("height")) }
            guard let tier = try rung.number("tier", in: 16...1_000_000) else { throw rung.error("rung '\(name)' needs 'tier', the viewer bandwidth in kbit/s") }
            let profile = try rung.string("profile") ?? "main"
            guard profiles.contains(profile) else {
                throw rung.error("rung '\(name)': profile must be baseline, main or high, not '\(profile)'", at: rung.value("profile"))
            }
            let level = try rung.string("level") ?? "3.1"
            guard levels.contains(level) else { throw rung.error("rung '\(name)': '\(level)' is not an H.264 level", at: rung.value("level")) }
            var audioCodec: AudioCodec?
            if let codec = try rung.string("audio-codec") {
                guard let parsed = AudioCodec(rawValue: codec) else {
                    throw rung.error("rung '\(name)': audio-codec must be aac or mp3, not '\(codec)'", at: rung.value("audio-codec"))
                }
                audioCodec = parsed
            }
            if rungs.contains(where: { $0.name == name }) { throw rung.error("two rungs are named '\(name)'", at: rung.value("name")) }
            rungs.append(Rung(
                name: name, height: height, tier: tier,
                audioBitrate: try rung.number("audio-bitrate", in: 8...512) ?? 96,
                videoBitrate: try rung.number("video-bitrate", in: 16...100_000),
                profile: profile, level: level, audioCodec: audioCodec))
        }

        return Preset(
            name: try top.requiredString("name"),
            summary: try top.string("description") ?? "",
            outputs: outputs,
            keyframeInterval: try top.number("keyframe-interval", in: 0.5...20) ?? 2,
            bandwidthShare: try top.number("bandwidth-share", in: 0.1...1) ?? 0.75,
            minimumStep: try top.number("minimum-step", in: 1...4) ?? 1.3,
            video: video, audio: audio, rungs: rungs)
    }

    static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return problem
        default: return "\(error)"
        }
    }
}
