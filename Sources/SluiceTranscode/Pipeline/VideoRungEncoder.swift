import CFFmpeg
import SluiceMedia

/// Scales the shared decoded pictures to one rung's size (swscale) and encodes them
/// with libx264; packets become FLV video tags on the rung's output.
final class VideoRungEncoder {
    let rung: PlannedRung
    private let context: UnsafeMutablePointer<AVCodecContext>
    /// Scalers by source size and format (a source may change size mid-stream).
    private var scalers: [SourceShape: OpaquePointer] = [:]
    private var scaled: UnsafeMutablePointer<AVFrame>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private let output: RungOutput
    /// Frames of reorder delay (B-frames) in this encoder's output.
    let reorderDelay: Int
    private var timestampShift: Int64 = 0
    /// Ticks taken off every decode timestamp so that this rung's decode delay matches the
    /// ladder's longest (see `Transcoder.alignDecodeDelays`).
    private var decodeDelayPadding: Int64 = 0
    private(set) var framesEncoded = 0

    init(rung: PlannedRung, frameRate: AVRational, encoderPreset: String, threads: Int32, output: RungOutput) throws(TranscodeError) {
        self.rung = rung
        self.output = output
        guard let codec = avcodec_find_encoder_by_name("libx264") else {
            throw TranscodeError("this FFmpeg has no libx264 encoder")
        }
        guard let context = avcodec_alloc_context3(codec) else { throw TranscodeError("cannot allocate an H.264 encoder") }
        self.context = context
        let rate = AVRational(num: frameRate.num, den: frameRate.den * Int32(rung.frameStep))
        context.pointee.width = Int32(rung.width)
        context.pointee.height = Int32(rung.height)
        context.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        context.pointee.time_base = av_inv_q(rate)
        context.pointee.framerate = rate
        context.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        let bitrate = Int64(rung.videoBitrate) * 1000
        context.pointee.bit_rate = bitrate
        context.pointee.rc_max_rate = bitrate
        context.pointee.rc_buffer_size = Int32(clamping: bitrate * 2)
        context.pointee.gop_size = Int32(rung.gopFrames)
        context.pointee.keyint_min = Int32(rung.gopFrames)
        context.pointee.thread_count = threads
        context.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER)
        try Libav.setOption(context.pointee.priv_data, "preset", encoderPreset)
        try Libav.setOption(context.pointee.priv_data, "profile", rung.profile)
        try Libav.setOption(context.pointee.priv_data, "level", rung.level)
        // Keyframes only where asked (the same source frames in every rung), and IDR.
        try Libav.setOption(context.pointee.priv_data, "forced-idr", "1")
        try Libav.setOption(context.pointee.priv_data, "x264-params", "scenecut=0:open-gop=0")
        try Libav.check(avcodec_open2(context, codec, nil), "cannot open the H.264 encoder for \(rung.name)")
        reorderDelay = Int(context.pointee.has_b_frames)
        packet = av_packet_alloc()
        scaled = av_frame_alloc()
        scaled!.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        scaled!.pointee.width = Int32(rung.width)
        scaled!.pointee.height = Int32(rung.height)
        try Libav.check(av_frame_get_buffer(scaled, 0), "cannot allocate a picture for \(rung.name)")
    }

    deinit {
        var context: UnsafeMutablePointer<AVCodecContext>? = self.context
        avcodec_free_context(&context)
        av_frame_free(&scaled)
        av_packet_free(&packet)
        for scaler in scalers.values { sws_freeContext(scaler) }
    }

    struct SourceShape: Hashable {
        var width: Int32
        var height: Int32
        var format: Int32
    }


    /// The reorder delay in frames of the source rate (a half-rate rung's frame is two).
    var reorderDelaySourceFrames: Int64 { Int64(reorderDelay) * Int64(rung.frameStep) }

    /// Adds this rung's video stream to its MP4 copy.
    func attach(to muxer: MP4Muxer) throws(TranscodeError) {
        try muxer.addVideo(from: context)
    }

    /// Writes the AVC sequence header. `shift` (milliseconds, the same for every rung)
    /// keeps decode timestamps non-negative; `padding` (this rung's ticks) delays decoding
    /// to the ladder's common decode delay, so keyframes agree in decode time too.
    func start(shift: Int64, padding: Int64) throws(TranscodeError) {
        timestampShift = shift
        decodeDelayPadding = padding
        let extradata = Array(UnsafeBufferPointer(start: context.pointee.extradata, count: Int(context.pointee.extradata_size)))
        guard let record = H264Bitstream.decoderConfiguration(annexB: extradata) else {
            throw TranscodeError("the H.264 encoder gave no SPS/PPS for \(rung.name)")
        }
        try output.add(MediaTag(type: .video, timestamp: 0, payload: [0x17, 0x00, 0, 0, 0] + record))
    }

    /// Encodes `source` as this rung's frame `index`; `keyframe` forces an IDR.
    func encode(_ source: UnsafeMutablePointer<AVFrame>, index: Int64, keyframe: Bool) throws(TranscodeError) {
        guard let scaled else { return }
        try Libav.check(av_frame_make_writable(scaled), "cannot reuse the picture buffer")
        let shape = SourceShape(width: source.pointee.width, height: source.pointee.height, format: source.pointee.format)
        var scaler = scalers[shape]
        if scaler == nil {
            scaler = try Self.makeScaler(from: shape, width: Int32(rung.width), height: Int32(rung.height))
            scalers[shape] = scaler
        }
        try Libav.check(sws_scale_frame(scaler, scaled, source), "cannot scale a picture for \(rung.name)")
        scaled.pointee.pts = index
        scaled.pointee.pict_type = keyframe ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE
        try Libav.check(avcodec_send_frame(context, scaled), "H.264 encoding failed for \(rung.name)")
        framesEncoded += 1
        try drain()
    }

    func flush() throws(TranscodeError) {
        try Libav.check(avcodec_send_frame(context, nil), "H.264 flush failed for \(rung.name)")
        try drain()
    }

    /// Threads for one scale: the feeding thread scales every rung in turn while the
    /// encoders' own threads wait for pictures, so slicing each scale keeps both cores busy.
    static let scalerThreads: Int64 = 2

    /// A bicubic scaler to YUV 4:2:0, slice-threaded (swscale 6's threads option).
    static func makeScaler(from shape: SourceShape, width: Int32, height: Int32) throws(TranscodeError) -> OpaquePointer {
        guard let context = sws_alloc_context() else { throw TranscodeError("cannot allocate a scaler") }
        let object = UnsafeMutableRawPointer(context)
        av_opt_set_int(object, "srcw", Int64(shape.width), 0)
        av_opt_set_int(object, "srch", Int64(shape.height), 0)
        av_opt_set_int(object, "src_format", Int64(shape.format), 0)
        av_opt_set_int(object, "dstw", Int64(width), 0)
        av_opt_set_int(object, "dsth", Int64(height), 0)
        av_opt_set_int(object, "dst_format", Int64(AV_PIX_FMT_YUV420P.rawValue), 0)
        av_opt_set_int(object, "sws_flags", Int64(SWS_BICUBIC), 0)
        av_opt_set_int(object, "threads", scalerThreads, 0)
        guard sws_init_context(context, nil, nil) >= 0 else {
            sws_freeContext(context)
            throw TranscodeError("cannot scale \(shape.width)x\(shape.height) to \(width)x\(height)")
        }
        return context
    }

    private func drain() throws(TranscodeError) {
        try Libav.receivePackets(from: context, into: packet!, "H.264 encoding failed for \(rung.name)") { packet throws(TranscodeError) in
            let timeBase = context.pointee.time_base
            // In the packet itself, so that the MP4 copy gets the same decode times.
            if packet.pointee.dts != Libav.noTimestamp { packet.pointee.dts -= decodeDelayPadding }
            let dts = av_rescale_q(packet.pointee.dts, timeBase, Libav.milliseconds) + timestampShift
            let pts = av_rescale_q(packet.pointee.pts, timeBase, Libav.milliseconds) + timestampShift
            let composition = UInt32(bitPattern: Int32(clamping: pts - dts))
            let key = packet.pointee.flags & AV_PKT_FLAG_KEY != 0
            var payload: [UInt8] = [key ? 0x17 : 0x27, 0x01, UInt8(composition >> 16 & 0xFF), UInt8(composition >> 8 & 0xFF), UInt8(composition & 0xFF)]
            payload.reserveCapacity(5 + Int(packet.pointee.size) + 16)
            H264Bitstream.appendAVCC(annexB: UnsafeRawBufferPointer(start: packet.pointee.data, count: Int(packet.pointee.size)), to: &payload)
            try output.add(MediaTag(type: .video, timestamp: UInt32(clamping: max(0, dts)), payload: payload), packet: packet, video: true)
        }
    }
}
