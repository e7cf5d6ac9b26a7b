import CFFmpeg

/// Turns decoded pictures upright for sources with a display rotation (phone videos):
/// FLV has no rotation flag, so the pixels themselves must turn. Converts to YUV 4:2:0
/// first, then moves each plane's samples.
final class FrameRotator {
    let degrees: Int
    private var converter: OpaquePointer?
    private var upright: UnsafeMutablePointer<AVFrame>?
    private var converted: UnsafeMutablePointer<AVFrame>?

    init(degrees: Int) {
        self.degrees = degrees
    }

    deinit {
        sws_freeContext(converter)
        av_frame_free(&upright)
        av_frame_free(&converted)
    }

    func rotate(_ source: UnsafeMutablePointer<AVFrame>) throws(TranscodeError) -> UnsafeMutablePointer<AVFrame> {
        let width = source.pointee.width, height = source.pointee.height
        if converted == nil {
            converted = av_frame_alloc()
            converted!.pointee.format = AV_PIX_FMT_YUV420P.rawValue
            converted!.pointee.width = width
            converted!.pointee.height = height
            try Libav.check(av_frame_get_buffer(converted, 0), "cannot allocate a picture")
            upright = av_frame_alloc()
            upright!.pointee.format = AV_PIX_FMT_YUV420P.rawValue
            upright!.pointee.width = degrees == 180 ? width : height
            upright!.pointee.height = degrees == 180 ? height : width
            try Libav.check(av_frame_get_buffer(upright, 0), "cannot allocate a picture")
            converter = sws_getContext(width, height, AVPixelFormat(source.pointee.format), width, height, AV_PIX_FMT_YUV420P,
                                       SWS_POINT, nil, nil, nil)
        }
        try Libav.check(av_frame_make_writable(converted), "cannot reuse a picture")
        try Libav.check(sws_scale_frame(converter, converted, source), "cannot convert a picture to rotate it")
        try Libav.check(av_frame_make_writable(upright), "cannot reuse a picture")
        let planes = [(converted!.pointee.data.0, converted!.pointee.linesize.0, upright!.pointee.data.0, upright!.pointee.linesize.0, 1),
                      (converted!.pointee.data.1, converted!.pointee.linesize.1, upright!.pointee.data.1, upright!.pointee.linesize.1, 2),
                      (converted!.pointee.data.2, converted!.pointee.linesize.2, upright!.pointee.data.2, upright!.pointee.linesize.2, 2)]
        for (source, sourceStride, target, targetStride, divisor) in planes {
            guard let source, let target else { continue }
            let w = Int(width) / divisor, h = Int(height) / divisor
            let ss = Int(sourceStride), ts = Int(targetStride)
            switch degrees {
            case 90:  // clockwise: row r of the target is column r of the source, read bottom-up
                for y in 0..<h { for x in 0..<w { target[x * ts + (h - 1 - y)] = source[y * ss + x] } }
            case 270:
                for y in 0..<h { for x in 0..<w { target[(w - 1 - x) * ts + y] = source[y * ss + x] } }
            default:  // 180
                for y in 0..<h { for x in 0..<w { target[(h - 1 - y) * ts + (w - 1 - x)] = source[y * ss + x] } }
            }
        }
        upright!.pointee.pts = source.pointee.pts
        return upright!
    }
}
