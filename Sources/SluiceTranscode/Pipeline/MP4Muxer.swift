import CFFmpeg

/// One rendition as MP4 (moov first, for progressive download), through libavformat's
/// muxer, fed the same encoded packets as the rung's FLV.
final class MP4Muxer {
    let finalPath: String
    let temporaryPath: String
    private var context: UnsafeMutablePointer<AVFormatContext>?
    private var videoStream: UnsafeMutablePointer<AVStream>?
    private var audioStream: UnsafeMutablePointer<AVStream>?
    private var videoTimeBase = AVRational(num: 1, den: 1)
    private var audioTimeBase = AVRational(num: 1, den: 1)
    private var headerWritten = false

    init(finalPath: String) throws(TranscodeError) {
        self.finalPath = finalPath
        temporaryPath = Libav.temporaryPath(for: finalPath)
        try Libav.check(avformat_alloc_output_context2(&context, nil, "mp4", temporaryPath), "cannot make an MP4 muxer")
    }

    deinit {
        if let context {
            if context.pointee.pb != nil { avio_closep(&context.pointee.pb) }
            avformat_free_context(context)
        }
    }

    func addVideo(from encoder: UnsafeMutablePointer<AVCodecContext>) throws(TranscodeError) {
        videoStream = try addStream(from: encoder)
        videoTimeBase = encoder.pointee.time_base
    }

    func addAudio(from encoder: UnsafeMutablePointer<AVCodecContext>) throws(TranscodeError) {
        audioStream = try addStream(from: encoder)
        audioTimeBase = encoder.pointee.time_base
    }

    private func addStream(from encoder: UnsafeMutablePointer<AVCodecContext>) throws(TranscodeError) -> UnsafeMutablePointer<AVStream> {
        guard let stream = avformat_new_stream(context, nil) else { throw TranscodeError("cannot add an MP4 stream") }
        try Libav.check(avcodec_parameters_from_context(stream.pointee.codecpar, encoder), "cannot describe an MP4 stream")
        stream.pointee.time_base = encoder.pointee.time_base
        return stream
    }

    func start() throws(TranscodeError) {
        guard let context else { return }
        try Libav.check(avio_open(&context.pointee.pb, temporaryPath, AVIO_FLAG_WRITE), "cannot write \(temporaryPath)")
        var options: OpaquePointer?
        av_dict_set(&options, "movflags", "+faststart", 0)
        defer { av_dict_free(&options) }
        try Libav.check(avformat_write_header(context, &options), "cannot start \(temporaryPath)")
        headerWritten = true
    }

    /// Writes a copy of an encoder's packet (its timestamps in the encoder's time base).
    func write(_ packet: UnsafeMutablePointer<AVPacket>, video: Bool) throws(TranscodeError) {
        guard let stream = video ? videoStream : audioStream, let copy = av_packet_clone(packet) else { return }
        var owned: UnsafeMutablePointer<AVPacket>? = copy
        defer { av_packet_free(&owned) }
        av_packet_rescale_ts(copy, video ? videoTimeBase : audioTimeBase, stream.pointee.time_base)
        copy.pointee.stream_index = stream.pointee.index
        try Libav.check(av_interleaved_write_frame(context, copy), "cannot write to \(temporaryPath)")
    }

    func finish() throws(TranscodeError) {
        guard headerWritten, let context else { return }
        try Libav.check(av_write_trailer(context), "cannot finish \(temporaryPath)")
        avio_closep(&context.pointee.pb)
    }
}
