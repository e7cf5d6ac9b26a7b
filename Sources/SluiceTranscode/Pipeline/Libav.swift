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

    /// `extended_data` as the `void **` that the audio FIFO takes.
    static func planes(_ frame: UnsafeMutablePointer<AVFrame>) -> UnsafeMutablePointer<UnsafeMutableRawPointer?> {
        UnsafeMutableRawPointer(frame.pointee.extended_data).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
    }
}
