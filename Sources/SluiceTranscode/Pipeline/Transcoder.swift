import CFFmpeg
import Foundation
import SluiceMedia

/// Where an encode is, for progress bars and logs.
public struct EncodeProgress: Sendable {
    /// 0…1 of the source's duration decoded.
    public var fraction: Double
    /// Source frames decoded per second of wall time.
    public var framesPerSecond: Double
    public var elapsed: Double
    /// Seconds left at the current pace, when it can be told.
    public var remaining: Double?
}

/// One rendition written.
public struct Rendition: Sendable {
    public var rung: PlannedRung
    public var path: String
    public var summary: FLVFileWriter.Summary
    /// The MP4 copy (moov first), when the preset asks for one.
    public var mp4Path: String?
}

public struct EncodeResult: Sendable {
    public var ladder: Ladder
    public var renditions: [Rendition]
    public var seconds: Double
}

/// Decodes a source once and encodes every rung of its ladder: swscale per rung,
/// libx264 and FFmpeg's AAC (or LAME's MP3) through libavcodec, FLV written by
/// SluiceMedia. Keyframes are forced on the same source frames in every rung; the frame
/// rate is made constant. Outputs appear under their final names only when all succeeded.
public final class Transcoder {
    public let ladder: Ladder
    public let folder: String
    public var progress: ((EncodeProgress) -> Void)?
    /// Asked between packets; true stops the encode with "cancelled" (a job was
    /// cancelled, or its runner is stopping).
    public var isCancelled: (() -> Bool)?
    /// Threads per encoder (0: libx264 chooses).
    public var threadsPerEncoder: Int32 = 0

    public init(ladder: Ladder, folder: String) {
        self.ladder = ladder
        self.folder = folder
    }

    public func run() throws(TranscodeError) -> EncodeResult {
        _ = SourceProbe.quiet
        let started = Date()
        var outputs: [RungOutput] = []
        do throws(TranscodeError) {
            let result = try encode(outputs: &outputs, started: started)
            for output in outputs {
                for (temporary, final) in [(output.temporaryPath, output.finalPath)] + (output.mp4.map { [($0.temporaryPath, $0.finalPath)] } ?? [])
                where rename(temporary, final) != 0 {
                    throw TranscodeError("cannot move \(temporary) into place: \(String(cString: strerror(errno)))")
                }
            }
            return result
        } catch {
            for output in outputs {
                unlink(output.temporaryPath)
                if let mp4 = output.mp4 { unlink(mp4.temporaryPath) }
            }
            throw error
        }
    }

    private func encode(outputs: inout [RungOutput], started: Date) throws(TranscodeError) -> EncodeResult {
        let path = ladder.source.path
        var opened: UnsafeMutablePointer<AVFormatContext>?
        try Libav.check(avformat_open_input(&opened, path, nil, nil), "\(path) is not a media file FFmpeg can open")
        guard let format = opened else { throw TranscodeError("\(path) cannot be opened") }
        defer { avformat_close_input(&opened) }
        try Libav.check(avformat_find_stream_info(format, nil), "\(path): cannot read stream information")

        let wantsVideo = ladder.rungs.contains { $0.hasVideo }
        let wantsAudio = ladder.source.audio != nil
        let video = wantsVideo ? try StreamDecoder(format: format, type: AVMEDIA_TYPE_VIDEO, path: path) : nil
        let audio = wantsAudio ? try StreamDecoder(format: format, type: AVMEDIA_TYPE_AUDIO, path: path) : nil
        if wantsVideo, video == nil { throw TranscodeError("\(path) has no video stream that FFmpeg can decode") }

        // The constant output rate as a fraction (30000/1001 stays exact).
        var rate = av_d2q(ladder.frameRate, 100_000)
        if let stream = video?.stream {
            let average = stream.pointee.avg_frame_rate
            if average.num > 0, average.den > 0, abs(av_q2d(average) - ladder.frameRate) < 0.001 { rate = average }
        }
        let sampleRate = Int32(ladder.audioSampleRate)
        let channels = Int32(max(1, ladder.audioChannels))
        let reserved = Int((ladder.source.duration / ladder.preset.keyframeInterval * 1.1).rounded(.up)) + 8

        var videoEncoders: [VideoRungEncoder] = []
        var audioEncoders: [AudioRungEncoder] = []
        try FileManager.default.createDirectoryIfMissing(folder)
        for rung in ladder.rungs {
            let info = FLVFileWriter.StreamInfo(
                hasVideo: rung.hasVideo, hasAudio: wantsAudio, width: rung.width, height: rung.height,
                frameRate: rung.hasVideo ? av_q2d(rate) / Double(rung.frameStep) : 0,
                audioCodecID: rung.audioCodec == .aac ? AudioCodecID.aac.rawValue : AudioCodecID.mp3.rawValue,
                audioSampleRate: Int(sampleRate), stereo: channels > 1,
                audioFrameDuration: rung.audioCodec == .aac ? 1024_000 / Double(sampleRate) : 1152_000 / Double(sampleRate))
            let output = try RungOutput(rung: rung, finalPath: folder + "/" + rung.name + ".flv", info: info, reservedKeyframes: reserved)
            outputs.append(output)
            // MP4 carries AAC, not the MP3 rungs of an audio preset.
            let muxer = ladder.preset.outputs.contains(.mp4) && rung.audioCodec == .aac ? try MP4Muxer(finalPath: folder + "/" + rung.name + ".mp4") : nil
            output.mp4 = muxer
            if rung.hasVideo {
                let encoder = try VideoRungEncoder(rung: rung, frameRate: rate, encoderPreset: ladder.preset.video?.encoderPreset ?? "veryfast",
                                                   threads: threadsPerEncoder, output: output)
                if let muxer { try encoder.attach(to: muxer) }
                videoEncoders.append(encoder)
            }
            if wantsAudio {
                if let shared = audioEncoders.first(where: { $0.canServe(rung) }) {
                    shared.serve(output)
                    if let muxer { try shared.attach(to: muxer) }
                } else {
                    let encoder = try AudioRungEncoder(rung: rung, sampleRate: sampleRate, channels: channels, output: output)
                    if let muxer { try encoder.attach(to: muxer) }
                    audioEncoders.append(encoder)
                }
            }
            try muxer?.start()
        }
        // One shift for every rung keeps presentation times, and so keyframes, aligned; one
        // decode delay for every rung aligns decode times (FLV tag times) as well.
        let delay = Self.alignDecodeDelays(videoEncoders.map { ($0.reorderDelaySourceFrames, Int64($0.rung.frameStep)) })
        let delayMilliseconds = rate.num > 0 ? (delay * 1000 * Int64(rate.den) + Int64(rate.num) - 1) / Int64(rate.num) : 0
        let shift = max(delayMilliseconds, audioEncoders.map(\.primingMilliseconds).max() ?? 0)
        for encoder in videoEncoders {
            try encoder.start(shift: shift, padding: (delay - encoder.reorderDelaySourceFrames) / Int64(encoder.rung.frameStep))
        }
        for encoder in audioEncoders { try encoder.start(shift: shift) }

        let resampler = try audio.map { decoder throws(TranscodeError) in try Resampler(decoder: decoder.context, sampleRate: sampleRate, channels: channels) }
        let rotator = (ladder.source.video?.rotation ?? 0) != 0 ? FrameRotator(degrees: ladder.source.video!.rotation) : nil
        var slots = FrameSlots(rate: rate, keyframeEvery: Int64(ladder.keyframeEvery))
        var lastTime = 0.0
        var decodedFrames = 0
        var lastReport = Date.distantPast

        let workers = videoEncoders.map { RungWorker(encoder: $0) }
        defer { for worker in workers { worker.drain() } }
        func emit(_ frame: UnsafeMutablePointer<AVFrame>, slot: Int64) throws(TranscodeError) {
            for worker in workers where slot % Int64(worker.rung.frameStep) == 0 {
                try worker.encode(frame, index: slot / Int64(worker.rung.frameStep), keyframe: slot % Int64(ladder.keyframeEvery) == 0)
            }
        }
        func videoFrame(_ decoded: UnsafeMutablePointer<AVFrame>, seconds: Double) throws(TranscodeError) {
            decodedFrames += 1
            lastTime = max(lastTime, seconds)
            let picture = try rotator?.rotate(decoded) ?? decoded
            for slot in slots.slots(forFrameAt: seconds) { try emit(picture, slot: slot) }
        }
        func audioFrame(_ decoded: UnsafeMutablePointer<AVFrame>, seconds: Double) throws(TranscodeError) {
            if video == nil { lastTime = max(lastTime, seconds) }
            if let samples = try resampler?.convert(decoded) {
                for encoder in audioEncoders { try encoder.add(samples) }
            }
        }
        func report(force: Bool = false) {
            guard let progress, force || Date().timeIntervalSince(lastReport) > 0.25 else { return }
            lastReport = Date()
            let elapsed = Date().timeIntervalSince(started)
            let fraction = ladder.source.duration > 0 ? min(1, lastTime / ladder.source.duration) : 0
            progress(EncodeProgress(fraction: fraction, framesPerSecond: elapsed > 0 ? Double(decodedFrames) / elapsed : 0,
                                    elapsed: elapsed, remaining: fraction > 0.01 ? elapsed * (1 - fraction) / fraction : nil))
        }

        var packet = av_packet_alloc()
        defer { av_packet_free(&packet) }
        var readError: Int32 = 0
        while true {
            let status = av_read_frame(format, packet)
            if status == Libav.endOfFile { break }
            if status < 0 {
                readError = status
                break
            }
            defer { av_packet_unref(packet) }
            if let video, packet!.pointee.stream_index == video.index {
                try video.decode(packet, each: videoFrame)
            } else if let audio, packet!.pointee.stream_index == audio.index {
                try audio.decode(packet, each: audioFrame)
            }
            report()
            if let isCancelled, isCancelled() { throw TranscodeError.cancelled }
        }
        try video?.decode(nil, each: videoFrame)
        try audio?.decode(nil, each: audioFrame)
        if let samples = try resampler?.flush() {
            for encoder in audioEncoders { try encoder.add(samples) }
        }

        // What went wrong with the input, in words.
        if let video, decodedFrames == 0 {
            throw TranscodeError("\(path): no video frame could be decoded (\(video.errors) damaged packets)")
        }
        for decoder in [video, audio].compactMap({ $0 }) where decoder.errors > max(10, decoder.packets / 20) {
            throw TranscodeError("\(path) is damaged: \(decoder.errors) of \(decoder.packets) \(decoder.kind) packets could not be decoded")
        }
        let declared = ladder.source.duration
        if declared > 2, lastTime < declared * 0.95 - 1 {
            let reason = readError < 0 ? " (\(TranscodeError.libav(readError, "read error").description))" : ""
            throw TranscodeError("\(path) is truncated: its media stops at \(String(format: "%.1f", lastTime)) s of the \(String(format: "%.1f", declared)) s it announces\(reason)")
        }

        for worker in workers { try worker.finish() }
        for encoder in audioEncoders { try encoder.flush() }
        var renditions: [Rendition] = []
        for output in outputs {
            renditions.append(Rendition(rung: output.rung, path: output.finalPath, summary: try output.finish(), mp4Path: output.mp4?.finalPath))
            try output.mp4?.finish()
        }
        report(force: true)
        return EncodeResult(ladder: ladder, renditions: renditions, seconds: Date().timeIntervalSince(started))
    }
}

/// Maps decoded frames at any times onto a constant-rate grid of output slots
/// (like FFmpeg's fps filter rounding to the nearest slot): late frames fill gaps by
/// repetition, early extra frames are dropped.
extension Transcoder {
    /// The decode delay, in source frames, that every rung takes: the longest reorder
    /// delay (B-frames) of the ladder, rounded up so that each rung's frame step divides
    /// it. A server switches renditions on tag (decode) time; a baseline rung without
    /// B-frames would otherwise decode its keyframes a reorder delay later than the rest
    /// (67 ms at 30 fps), and every switch would jump by two frames.
    static func alignDecodeDelays(_ rungs: [(reorderFrames: Int64, frameStep: Int64)]) -> Int64 {
        var delay = rungs.map(\.reorderFrames).max() ?? 0
        while rungs.contains(where: { $0.frameStep > 0 && delay % $0.frameStep != 0 }) { delay += 1 }
        return delay
    }
}

struct FrameSlots {
    let rate: AVRational
    let keyframeEvery: Int64
    private var next: Int64 = 0
    private var pendingRepeat: Int64 = 0

    init(rate: AVRational, keyframeEvery: Int64) {
        self.rate = rate
        self.keyframeEvery = keyframeEvery
    }

    /// The output slots this frame fills: none when it falls on a slot already filled,
    /// several when frames were missing before it (the frame repeats).
    mutating func slots(forFrameAt seconds: Double) -> Range<Int64> {
        let slot = Int64((max(0, seconds) * av_q2d(rate)).rounded())
        guard slot >= next else { return next..<next }
        defer { next = slot + 1 }
        return next..<(slot + 1)
    }
}

/// One input stream's decoder.
final class StreamDecoder {
    let index: Int32
    let stream: UnsafeMutablePointer<AVStream>
    let context: UnsafeMutablePointer<AVCodecContext>
    let kind: String
    private var frame: UnsafeMutablePointer<AVFrame>?
    private let startTime: Int64
    private(set) var errors = 0
    private(set) var packets = 0

    init?(format: UnsafeMutablePointer<AVFormatContext>, type: AVMediaType, path: String) throws(TranscodeError) {
        var codec: UnsafePointer<AVCodec>?
        let index = av_find_best_stream(format, type, -1, -1, &codec, 0)
        guard index >= 0, let codec, let stream = format.pointee.streams[Int(index)] else { return nil }
        if type == AVMEDIA_TYPE_VIDEO, stream.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC != 0 { return nil }
        guard let context = avcodec_alloc_context3(codec) else { throw TranscodeError("cannot allocate a decoder") }
        self.index = index
        self.stream = stream
        self.context = context
        kind = type == AVMEDIA_TYPE_VIDEO ? "video" : "audio"
        try Libav.check(avcodec_parameters_to_context(context, stream.pointee.codecpar), "\(path): unreadable \(kind) parameters")
        context.pointee.thread_count = 0
        context.pointee.pkt_timebase = stream.pointee.time_base
        try Libav.check(avcodec_open2(context, codec, nil), "\(path): cannot decode its \(String(cString: avcodec_get_name(codec.pointee.id))) \(kind)")
        frame = av_frame_alloc()
        startTime = stream.pointee.start_time == Libav.noTimestamp ? 0 : stream.pointee.start_time
    }

    deinit {
        var context: UnsafeMutablePointer<AVCodecContext>? = self.context
        avcodec_free_context(&context)
        av_frame_free(&frame)
    }

    /// Sends a packet (nil flushes) and hands each decoded frame, with its time in
    /// seconds from the stream's start, to `body`.
    func decode(_ packet: UnsafeMutablePointer<AVPacket>?, each body: (UnsafeMutablePointer<AVFrame>, Double) throws(TranscodeError) -> Void) throws(TranscodeError) {
        if packet != nil { packets += 1 }
        let sent = avcodec_send_packet(context, packet)
        if sent < 0, sent != Libav.endOfFile, sent != Libav.again {
            errors += 1  // a damaged packet: count it, keep going
            return
        }
        while true {
            let status = avcodec_receive_frame(context, frame)
            if status == Libav.again || status == Libav.endOfFile { return }
            if status < 0 {
                errors += 1
                return
            }
            defer { av_frame_unref(frame) }
            let timestamp = frame!.pointee.best_effort_timestamp
            let seconds = timestamp == Libav.noTimestamp ? 0 : Double(timestamp - startTime) * av_q2d(stream.pointee.time_base)
            try body(frame!, seconds)
        }
    }
}

/// Resamples decoded audio once to the ladder's rate and layout (5.1 down to stereo),
/// planar float, as the encoders take it.
final class Resampler {
    private var context: OpaquePointer?
    private var output: UnsafeMutablePointer<AVFrame>?
    private let sampleRate: Int32
    private var layout = AVChannelLayout()

    init(decoder: UnsafeMutablePointer<AVCodecContext>, sampleRate: Int32, channels: Int32) throws(TranscodeError) {
        self.sampleRate = sampleRate
        av_channel_layout_default(&layout, channels)
        var input = AVChannelLayout()
        if decoder.pointee.ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || decoder.pointee.ch_layout.nb_channels == 0 {
            av_channel_layout_default(&input, max(1, decoder.pointee.ch_layout.nb_channels))
        } else {
            av_channel_layout_copy(&input, &decoder.pointee.ch_layout)
        }
        defer { av_channel_layout_uninit(&input) }
        try Libav.check(swr_alloc_set_opts2(&context, &layout, AV_SAMPLE_FMT_FLTP, sampleRate, &input,
                                            decoder.pointee.sample_fmt, decoder.pointee.sample_rate, 0, nil), "cannot set up audio resampling")
        try Libav.check(swr_init(context), "cannot set up audio resampling")
        output = av_frame_alloc()
    }

    deinit {
        swr_free(&context)
        av_frame_free(&output)
        av_channel_layout_uninit(&layout)
    }

    private func prepare() throws(TranscodeError) -> UnsafeMutablePointer<AVFrame> {
        av_frame_unref(output)
        output!.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
        output!.pointee.sample_rate = sampleRate
        try Libav.check(av_channel_layout_copy(&output!.pointee.ch_layout, &layout), "audio layout")
        return output!
    }

    func convert(_ frame: UnsafeMutablePointer<AVFrame>) throws(TranscodeError) -> UnsafeMutablePointer<AVFrame>? {
        let out = try prepare()
        try Libav.check(swr_convert_frame(context, out, frame), "audio resampling failed")
        return out.pointee.nb_samples > 0 ? out : nil
    }

    func flush() throws(TranscodeError) -> UnsafeMutablePointer<AVFrame>? {
        let out = try prepare()
        try Libav.check(swr_convert_frame(context, out, nil), "audio resampling failed")
        return out.pointee.nb_samples > 0 ? out : nil
    }
}

extension FileManager {
    func createDirectoryIfMissing(_ path: String) throws(TranscodeError) {
        do {
            try createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw TranscodeError("cannot create \(path): \(error.localizedDescription)")
        }
    }
}
