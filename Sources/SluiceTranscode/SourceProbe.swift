import CFFmpeg
import Foundation

/// What an input file holds, read with libavformat: the facts a ladder is planned from.
public struct SourceInfo: Sendable, Equatable {
    public struct Video: Sendable, Equatable {
        public var codec: String
        /// Coded size.
        public var width: Int
        public var height: Int
        /// Degrees clockwise the picture is turned for display (0, 90, 180, 270).
        public var rotation: Int
        /// Frames per second (the average rate when the stream states one).
        public var frameRate: Double
        /// The size as displayed: width and height swapped for 90° and 270°.
        public var displayWidth: Int { rotation % 180 == 0 ? width : height }
        public var displayHeight: Int { rotation % 180 == 0 ? height : width }
    }

    public struct Audio: Sendable, Equatable {
        public var codec: String
        public var sampleRate: Int
        public var channels: Int
    }

    public var path: String
    public var container: String
    /// Seconds.
    public var duration: Double
    public var video: Video?
    public var audio: Audio?
}

/// Why an input cannot be used, in words for the person who dropped it.
public struct TranscodeError: Error, CustomStringConvertible, Equatable, Sendable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }

    public static let cancelled = TranscodeError("cancelled")

    /// A failure of the machine rather than of the media (a full disk, no memory): worth
    /// retrying later. libav and the writers report these with the C library's text.
    public var isTransient: Bool {
        [ENOSPC, EDQUOT, ENOMEM, EIO].contains { description.contains(String(cString: strerror($0))) }
    }

    /// libav's message for an error code.
    static func libav(_ code: Int32, _ what: String) -> TranscodeError {
        var buffer = [CChar](repeating: 0, count: 256)
        av_strerror(code, &buffer, buffer.count)
        let message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return TranscodeError("\(what): \(message)")
    }
}

public enum SourceProbe {
    /// Quietens libav's own logging: failures come back as errors with reasons.
    static let quiet: Void = av_log_set_level(AV_LOG_QUIET)

    public static func probe(_ path: String) throws(TranscodeError) -> SourceInfo {
        _ = quiet
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { throw TranscodeError("\(path) does not exist") }
        guard !isFolder.boolValue else { throw TranscodeError("\(path) is a folder, not a media file") }
        var opened: UnsafeMutablePointer<AVFormatContext>?
        let status = avformat_open_input(&opened, path, nil, nil)
        guard status >= 0, let context = opened else {
            throw .libav(status, "\(path) is not a media file FFmpeg can open")
        }
        defer { avformat_close_input(&opened) }
        let found = avformat_find_stream_info(context, nil)
        guard found >= 0 else { throw .libav(found, "\(path): cannot read stream information") }
        return try describe(context, path: path)
    }

    static func describe(_ context: UnsafeMutablePointer<AVFormatContext>, path: String) throws(TranscodeError) -> SourceInfo {
        var info = SourceInfo(path: path, container: String(cString: context.pointee.iformat.pointee.name), duration: 0)
        if context.pointee.duration > 0 {
            info.duration = Double(context.pointee.duration) / Double(AV_TIME_BASE)
        }
        let videoIndex = av_find_best_stream(context, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        if videoIndex >= 0, let stream = context.pointee.streams[Int(videoIndex)] {
            let parameters = stream.pointee.codecpar.pointee
            // Cover art in MP3/M4A is a one-picture "video" stream: not video.
            if stream.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC == 0, parameters.width > 0, parameters.height > 0 {
                info.video = SourceInfo.Video(
                    codec: String(cString: avcodec_get_name(parameters.codec_id)),
                    width: Int(parameters.width), height: Int(parameters.height),
                    rotation: rotation(of: stream), frameRate: frameRate(of: stream))
            }
        }
        let audioIndex = av_find_best_stream(context, AVMEDIA_TYPE_AUDIO, -1, -1, nil, 0)
        if audioIndex >= 0, let stream = context.pointee.streams[Int(audioIndex)] {
            let parameters = stream.pointee.codecpar.pointee
            info.audio = SourceInfo.Audio(
                codec: String(cString: avcodec_get_name(parameters.codec_id)),
                sampleRate: Int(parameters.sample_rate), channels: Int(parameters.ch_layout.nb_channels))
        }
        if info.duration == 0 {
            for index in 0..<Int(context.pointee.nb_streams) {
                let stream = context.pointee.streams[index]!.pointee
                if stream.duration > 0 {
                    info.duration = max(info.duration, Double(stream.duration) * av_q2d(stream.time_base))
                }
            }
        }
        guard info.video != nil || info.audio != nil else {
            throw TranscodeError("\(path) has neither video nor audio")
        }
        return info
    }

    static func frameRate(of stream: UnsafeMutablePointer<AVStream>) -> Double {
        let average = stream.pointee.avg_frame_rate
        if average.num > 0, average.den > 0 { return av_q2d(average) }
        let real = stream.pointee.r_frame_rate
        if real.num > 0, real.den > 0 { return av_q2d(real) }
        return 25
    }

    /// Rotation from the display matrix side data (phone videos), clockwise degrees.
    static func rotation(of stream: UnsafeMutablePointer<AVStream>) -> Int {
        var size: Int = 0
        guard let data = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size), size >= 9 * 4 else { return 0 }
        let counterClockwise = data.withMemoryRebound(to: Int32.self, capacity: 9) { av_display_rotation_get($0) }
        guard counterClockwise.isFinite else { return 0 }
        let clockwise = Int((-counterClockwise).rounded())
        return ((clockwise % 360) + 360) % 360 / 90 * 90
    }
}
