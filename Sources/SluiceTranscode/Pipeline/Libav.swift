import CFFmpeg

/// Small bridges over libav's C conventions.
enum Libav {
    static let again = sluice_averror(EAGAIN)
    static let endOfFile = sluice_averror_eof()
    static let noTimestamp = sluice_no_pts()
    static let milliseconds = AVRational(num: 1, den: 1000)

    /// Throws a readable error for a negative libav status.
    @discardableResult
    static func check(_ status: Int32, _ what: @autoclosure () -> String) throws(TranscodeError) -> Int32 {
        if status < 0 { throw TranscodeError.libav(status, what()) }
        return status
    }

    static func setOption(_ object: UnsafeMutableRawPointer?, _ name: String, _ value: String) throws(TranscodeError) {
        try check(av_opt_set(object, name, value, 0), "cannot set \(name)=\(value)")
    }

    /// Takes every packet the encoder has ready and hands each to `body`, then unrefs it.
    static func receivePackets(
        from encoder: UnsafeMutablePointer<AVCodecContext>, into packet: UnsafeMutablePointer<AVPacket>, _ what: String,
        _ body: (UnsafeMutablePointer<AVPacket>) throws(TranscodeError) -> Void
    ) throws(TranscodeError) {
        while true {
            let status = avcodec_receive_packet(encoder, packet)
            if status == again || status == endOfFile { return }
            try check(status, what)
            defer { av_packet_unref(packet) }
            try body(packet)
        }
    }

    /// Where an output is written until it is complete: a dot name beside it, so a
    /// half-written rendition never carries the final name.
    static func temporaryPath(for finalPath: String) -> String {
        let slash = finalPath.lastIndex(of: "/")
        let folder = slash.map { String(finalPath[...$0]) } ?? ""
        let name = slash.map { String(finalPath[finalPath.index(after: $0)...]) } ?? finalPath
        return folder + "." + name + ".partial"
    }

    /// `extended_data` as the `void **` that the audio FIFO takes.
    static func planes(_ frame: UnsafeMutablePointer<AVFrame>) -> UnsafeMutablePointer<UnsafeMutableRawPointer?> {
        UnsafeMutableRawPointer(frame.pointee.extended_data).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
    }
}
