/// One rendition as it will be encoded, with the rule that decided each of its numbers.
public struct PlannedRung: Sendable, Equatable {
    public var name: String
    /// 0 × 0 for an audio-only rung.
    public var width: Int
    public var height: Int
    public var frameRate: Double
    /// Source frames per output frame (1, or 2 for a rung at half rate).
    public var frameStep: Int
    /// Frames between keyframes in this rung.
    public var gopFrames: Int
    /// kbit/s; 0 for audio-only.
    public var videoBitrate: Int
    public var audioBitrate: Int
    public var audioCodec: Preset.AudioCodec
    public var profile: String
    public var level: String
    public var tier: Double
    /// Field name and the rule behind its value, in order.
    public var reasons: [(field: String, rule: String)]

    public var totalBitrate: Int { videoBitrate + audioBitrate }
    public var hasVideo: Bool { width > 0 }

    public static func == (lhs: PlannedRung, rhs: PlannedRung) -> Bool {
        lhs.name == rhs.name && lhs.width == rhs.width && lhs.height == rhs.height && lhs.frameRate == rhs.frameRate
            && lhs.frameStep == rhs.frameStep && lhs.gopFrames == rhs.gopFrames && lhs.videoBitrate == rhs.videoBitrate
            && lhs.audioBitrate == rhs.audioBitrate && lhs.audioCodec == rhs.audioCodec && lhs.profile == rhs.profile
            && lhs.level == rhs.level && lhs.tier == rhs.tier
    }
}

/// The renditions for one source under one preset.
public struct Ladder: Sendable, Equatable {
    public var preset: Preset
    public var source: SourceInfo
    public var rungs: [PlannedRung]
    /// Rungs the rules left out, and why.
    public var dropped: [(name: String, reason: String)]
    /// The frame rate every full-rate rung is encoded at (constant, whatever the source).
    public var frameRate: Double
    /// Full-rate frames between keyframes: a multiple of every rung's frame step, so the
    /// keyframes of all rungs fall on the same source frames.
    public var keyframeEvery: Int
    public var audioSampleRate: Int
    public var audioChannels: Int

    public static func == (lhs: Ladder, rhs: Ladder) -> Bool {
        lhs.preset == rhs.preset && lhs.source == rhs.source && lhs.rungs == rhs.rungs && lhs.frameRate == rhs.frameRate
            && lhs.dropped.map(\.name) == rhs.dropped.map(\.name)
    }
}

/// Applies a preset's rules to a source (the Flash video bitrate calculator's advice, the
/// Kush gauge, Adobe's dynamic-streaming guidance).
public enum LadderPlanner {
    public static func plan(_ preset: Preset, for source: SourceInfo) throws(TranscodeError) -> Ladder {
        let audioChannels = min(source.audio?.channels ?? 0, 2)
        var ladder = Ladder(preset: preset, source: source, rungs: [], dropped: [], frameRate: 0, keyframeEvery: 0,
                            audioSampleRate: preset.audio.sampleRate, audioChannels: audioChannels)
        guard let videoRules = preset.video else {
            guard source.audio != nil else { throw TranscodeError("\(source.path) has no audio, and preset \(preset.name) is audio only") }
            ladder.rungs = preset.rungs.map { rung in audioRung(rung, preset: preset) }
            ladder.rungs = dropCloseSteps(ladder.rungs, preset: preset, dropped: &ladder.dropped)
            return ladder
        }
        guard let video = source.video else {
            throw TranscodeError("\(source.path) has no video, and preset \(preset.name) needs video (use audio-only for sound)")
        }
        guard video.displayWidth >= 2, video.displayHeight >= 2 else {
            throw TranscodeError("\(source.path): video of \(video.width)x\(video.height) is too small to encode")
        }
        // One constant frame rate for every rung: never above the source, at most the preset's.
        let fullRate = min(video.frameRate, videoRules.maximumFrameRate)
        ladder.frameRate = fullRate
        let lowStep = fullRate > videoRules.lowFrameRate * 1.5 ? max(1, Int((fullRate / videoRules.lowFrameRate).rounded())) : 1
        ladder.keyframeEvery = max(1, Int((preset.keyframeInterval * fullRate / Double(lowStep)).rounded())) * lowStep
        let sourceHeight = video.displayHeight
        var candidates = preset.rungs.sorted { ($0.height ?? 0) > ($1.height ?? 0) }
        let fitting = candidates.filter { ($0.height ?? 0) <= sourceHeight }
        for rung in candidates where (rung.height ?? 0) > sourceHeight {
            ladder.dropped.append((rung.name, "\(rung.height ?? 0) lines is above the source's \(sourceHeight): never upscale"))
        }
        if fitting.isEmpty, let lowest = candidates.last {
            // A source smaller than every rung still gets one rendition, at its own size.
            ladder.dropped.removeAll { $0.name == lowest.name }
            var atSource = lowest
            atSource.height = sourceHeight
            candidates = [atSource]
        } else {
            candidates = fitting
        }
        var rungs: [PlannedRung] = []
        for rung in candidates {
            rungs.append(videoRung(rung, preset: preset, rules: videoRules, video: video, fullRate: fullRate, lowStep: lowStep,
                                   keyframeEvery: ladder.keyframeEvery, hasAudio: source.audio != nil))
        }
        ladder.rungs = dropCloseSteps(rungs, preset: preset, dropped: &ladder.dropped)
        return ladder
    }

    /// The nearest even number (encoders need even sizes for 4:2:0), at least 2.
    static func even(_ value: Double) -> Int { max(2, Int((value / 2).rounded()) * 2) }

    /// The even number at or below: rounding up would upscale by a line.
    static func evenDown(_ value: Int) -> Int { max(2, value / 2 * 2) }

    static func format(_ value: Double) -> String {
        YAMLMapping.format(value == value.rounded() ? value : (value * 100).rounded() / 100)
    }

    static func format2(_ value: Double) -> String {
        YAMLMapping.format((value * 100).rounded() / 100)
    }

    static func audioBitrate(_ rung: Preset.Rung, preset: Preset) -> (Int, String) {
        if rung.audioBitrate < preset.audio.minimumBitrate {
            return (Int(preset.audio.minimumBitrate), "raised to the \(format(preset.audio.minimumBitrate)) kbit/s audio minimum (asked \(format(rung.audioBitrate)))")
        }
        return (Int(rung.audioBitrate), "as the rung states, above the \(format(preset.audio.minimumBitrate)) kbit/s minimum")
    }

    static func audioRung(_ rung: Preset.Rung, preset: Preset) -> PlannedRung {
        let (audio, reason) = audioBitrate(rung, preset: preset)
        let codec = rung.audioCodec ?? preset.audio.codec
        return PlannedRung(name: rung.name, width: 0, height: 0, frameRate: 0, frameStep: 1, gopFrames: 0, videoBitrate: 0,
                           audioBitrate: audio, audioCodec: codec, profile: rung.profile, level: rung.level, tier: rung.tier,
                           reasons: [("audio", "\(codec.rawValue.uppercased()) \(audio) kbit/s: \(reason)")])
    }

    static func videoRung(_ rung: Preset.Rung, preset: Preset, rules: Preset.Video, video: SourceInfo.Video,
                          fullRate: Double, lowStep: Int, keyframeEvery: Int, hasAudio: Bool) -> PlannedRung {
        var reasons: [(String, String)] = []
        let height = evenDown(min(rung.height ?? video.displayHeight, video.displayHeight))
        let width = min(even(Double(height) * Double(video.displayWidth) / Double(video.displayHeight)), evenDown(video.displayWidth))
        reasons.append(("size", "\(width)x\(height): \(rung.height ?? height) lines, within the source's \(video.displayHeight); width keeps the \(video.displayWidth):\(video.displayHeight) shape, both even"))

        let (audio, audioReason) = hasAudio ? audioBitrate(rung, preset: preset) : (0, "the source has no audio")
        let codec = rung.audioCodec ?? preset.audio.codec

        func ruleBitrate(_ fps: Double) -> (Double, String) {
            switch rules.bitrateRule {
            case .kushGauge(let rank):
                let value = Double(width * height) * fps * rank * 0.07 / 1000
                return (value, "Kush gauge \(width)×\(height)×\(format2(fps)) fps×\(format(rank))×0.07 = \(Int(value.rounded())) kbit/s")
            case .bitsPerPixel(let bpp):
                let value = Double(width * height) * fps * bpp / 1000
                return (value, "\(format2(bpp)) bits per pixel at \(width)×\(height)×\(format2(fps)) fps = \(Int(value.rounded())) kbit/s")
            }
        }
        let cap = rung.tier * preset.bandwidthShare - Double(audio)
        func videoBitrate(_ fps: Double) -> (Int, String) {
            if let fixed = rung.videoBitrate {
                return (Int(fixed), "fixed at \(format(fixed)) kbit/s by the preset")
            }
            let (value, reason) = ruleBitrate(fps)
            if value > cap {
                return (Int(cap.rounded()), "\(reason), capped at \(Int(preset.bandwidthShare * 100))% of the \(format(rung.tier)) kbit/s tier less \(audio) kbit/s audio = \(Int(cap.rounded())) kbit/s")
            }
            return (Int(value.rounded()), "\(reason), within \(Int(preset.bandwidthShare * 100))% of the \(format(rung.tier)) kbit/s tier")
        }

        var step = 1
        var fps = fullRate
        var fpsReason = fullRate < video.frameRate - 0.01
            ? "\(format2(fullRate)) fps: the preset's maximum, below the source's \(format2(video.frameRate))"
            : "\(format2(fullRate)) fps: the source's rate, never above it"
        var (bitrate, bitrateReason) = videoBitrate(fps)
        if Double(bitrate + audio) < rules.lowBitrateThreshold, lowStep > 1 {
            // Under ~100 kbit/s, 15 fps is acceptable: take every Nth frame so keyframes still line up.
            step = lowStep
            fps = fullRate / Double(step)
            (bitrate, bitrateReason) = videoBitrate(fps)
            fpsReason = "\(format2(fps)) fps (every \(step) frames): allowed under \(format(rules.lowBitrateThreshold)) kbit/s"
        } else if Double(bitrate + audio) > rules.highBitrateThreshold, fps < rules.minimumHighFrameRate {
            fpsReason += "; below the \(format(rules.minimumHighFrameRate)) fps wanted above \(format(rules.highBitrateThreshold)) kbit/s only because the source has no more"
        }
        reasons.append(("frame rate", fpsReason))
        reasons.append(("video", bitrateReason))
        reasons.append(("audio", hasAudio ? "\(codec.rawValue.uppercased()) \(audio) kbit/s: \(audioReason)" : audioReason))
        reasons.append(("profile", "H.264 \(rung.profile) at level \(rung.level), as the rung states"))
        // Keyframes at the same times in every rung.
        let intervalFrames = keyframeEvery / step
        reasons.append(("keyframes", "every \(intervalFrames) frames (\(format2(Double(intervalFrames) / fps)) s), IDR, at the same times in every rung"))
        return PlannedRung(name: rung.name, width: width, height: height, frameRate: fps, frameStep: step, gopFrames: intervalFrames,
                           videoBitrate: bitrate, audioBitrate: audio, audioCodec: codec, profile: rung.profile, level: rung.level,
                           tier: rung.tier, reasons: reasons)
    }

    /// Wide, well-separated rungs: drop one whose total is too close to the rung above it.
    static func dropCloseSteps(_ rungs: [PlannedRung], preset: Preset, dropped: inout [(name: String, reason: String)]) -> [PlannedRung] {
        var kept: [PlannedRung] = []
        for rung in rungs.sorted(by: { $0.totalBitrate > $1.totalBitrate }) {
            if let above = kept.last, Double(above.totalBitrate) < Double(rung.totalBitrate) * preset.minimumStep {
                dropped.append((rung.name, "\(rung.totalBitrate) kbit/s is within \(format2(preset.minimumStep))× of \(above.name)'s \(above.totalBitrate) kbit/s: too close to switch to"))
                continue
            }
            kept.append(rung)
        }
        return kept
    }
}
