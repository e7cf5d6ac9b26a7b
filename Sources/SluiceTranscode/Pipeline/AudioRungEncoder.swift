import CFFmpeg
import SluiceMedia

/// Encodes audio (AAC, or MP3 with libmp3lame) from the shared resampled samples,
/// through its own FIFO (encoders take fixed frame sizes: 1024 for AAC, 1152 for MP3),
/// for every rung that asks for the same codec and bitrate: the packets would be the
/// same, so they are encoded once and written to each rung's output.
final class AudioRungEncoder {
    let rung: PlannedRung
    private let context: UnsafeMutablePointer<AVCodecContext>
    private var fifo: OpaquePointer?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var outputs: [RungOutput]
    private var samplesSent: Int64 = 0
    private var timestampShift: Int64 = 0
    private let flags: UInt8
    let sampleRate: Int32

    init(rung: PlannedRung, sampleRate: Int32, channels: Int32, output: RungOutput) throws(TranscodeError) {
        self.rung = rung
        self.outputs = [output]
        self.sampleRate = sampleRate
        let codec: UnsafePointer<AVCodec>?
        switch rung.audioCodec {
        case .aac: codec = avcodec_find_encoder(AV_CODEC_ID_AAC)
        case .mp3: codec = avcodec_find_encoder_by_name("libmp3lame")
        }
        guard let codec else { throw TranscodeError("this FFmpeg has no \(rung.audioCodec.rawValue.uppercased()) encoder") }
        guard let context = avcodec_alloc_context3(codec) else { throw TranscodeError("cannot allocate an audio encoder") }
        self.context = context
        context.pointee.sample_fmt = AV_SAMPLE_FMT_FLTP
        context.pointee.sample_rate = sampleRate
        av_channel_layout_default(&context.pointee.ch_layout, channels)
        context.pointee.bit_rate = Int64(rung.audioBitrate) * 1000
        context.pointee.time_base = AVRational(num: 1, den: sampleRate)
        if rung.audioCodec == .aac { context.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER) }
        try Libav.check(avcodec_open2(context, codec, nil), "cannot open the \(rung.audioCodec.rawValue.uppercased()) encoder for \(rung.name)")
        fifo = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, channels, Int32(max(1, context.pointee.frame_size)) * 4)
        frame = av_frame_alloc()
        packet = av_packet_alloc()
        flags = rung.audioCodec == .aac ? 0xAF : MP3Reader.flvAudioFlags(sampleRate: Int(sampleRate), stereo: channels > 1)
    }

    deinit {
        var context: UnsafeMutablePointer<AVCodecContext>? = self.context
        avcodec_free_context(&context)
        av_audio_fifo_free(fifo)
        av_frame_free(&frame)
        av_packet_free(&packet)
    }

    /// Milliseconds of encoder priming (AAC starts 1024 samples early).
    /// Rounded up, as a reader of the MP4 copy's edit list rounds the shift it derives.
    var primingMilliseconds: Int64 { (Int64(context.pointee.initial_padding) * 1000 + Int64(sampleRate) - 1) / Int64(sampleRate) }

    var frameDurationMilliseconds: Double {
        Double(max(1, context.pointee.frame_size)) * 1000 / Double(sampleRate)
    }

    /// Whether `other` would get the very same packets from this encoder.
    func canServe(_ other: PlannedRung) -> Bool {
        other.audioCodec == rung.audioCodec && other.audioBitrate == rung.audioBitrate
    }

    /// Writes this encoder's packets to another rung's output too.
    func serve(_ output: RungOutput) {
        outputs.append(output)
    }

    /// Adds this rung's audio stream to its MP4 copy.
    func attach(to muxer: MP4Muxer) throws(TranscodeError) {
        try muxer.addAudio(from: context)
    }

    func start(shift: Int64) throws(TranscodeError) {
        timestampShift = shift
        if rung.audioCodec == .aac {
            let config = Array(UnsafeBufferPointer(start: context.pointee.extradata, count: Int(context.pointee.extradata_size)))
            guard !config.isEmpty else { throw TranscodeError("the AAC encoder gave no AudioSpecificConfig") }
            for output in outputs { try output.add(MediaTag(type: .audio, timestamp: 0, payload: [0xAF, 0x00] + config)) }
        }
    }

    /// Queues resampled samples (planar float) and encodes every whole frame.
    func add(_ samples: UnsafeMutablePointer<AVFrame>) throws(TranscodeError) {
        try Libav.check(av_audio_fifo_write(fifo, Libav.planes(samples), samples.pointee.nb_samples), "audio buffering failed")
        try encodeFrames(final: false)
    }

    func flush() throws(TranscodeError) {
        try encodeFrames(final: true)
        try Libav.check(avcodec_send_frame(context, nil), "audio flush failed for \(rung.name)")
        try drain()
    }

    private func encodeFrames(final: Bool) throws(TranscodeError) {
        let frameSize = max(1, context.pointee.frame_size)
        while av_audio_fifo_size(fifo) >= frameSize || (final && av_audio_fifo_size(fifo) > 0) {
            let count = min(frameSize, av_audio_fifo_size(fifo))
            av_frame_unref(frame)
            frame!.pointee.nb_samples = count
            frame!.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
            frame!.pointee.sample_rate = sampleRate
            try Libav.check(av_channel_layout_copy(&frame!.pointee.ch_layout, &context.pointee.ch_layout), "audio layout")
            try Libav.check(av_frame_get_buffer(frame, 0), "cannot allocate audio")
            try Libav.check(av_audio_fifo_read(fifo, Libav.planes(frame!), count), "audio buffering failed")
            frame!.pointee.pts = samplesSent
            samplesSent += Int64(count)
            try Libav.check(avcodec_send_frame(context, frame), "audio encoding failed for \(rung.name)")
            try drain()
        }
    }

    private func drain() throws(TranscodeError) {
        try Libav.receivePackets(from: context, into: packet!, "audio encoding failed for \(rung.name)") { packet throws(TranscodeError) in
            let pts = av_rescale_q(packet.pointee.pts, context.pointee.time_base, Libav.milliseconds) + timestampShift
            var payload: [UInt8] = rung.audioCodec == .aac ? [flags, 0x01] : [flags]
            payload.append(contentsOf: UnsafeRawBufferPointer(start: packet.pointee.data, count: Int(packet.pointee.size)))
            for output in outputs {
                try output.add(MediaTag(type: .audio, timestamp: UInt32(clamping: max(0, pts)), payload: payload), packet: packet)
            }
        }
    }
}
