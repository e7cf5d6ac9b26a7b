/// What the server needs of any media file: metadata, the decoder configuration and a
/// sequence of FLV tags that can restart at a keyframe.
///
/// One reader per container (FLV, MP4, MP3), each turning its file into FLV tags, so
/// the RTMP layer sends every container the same way.
public protocol MediaReader: AnyObject {
    /// What `onMetaData` carries for this file.
    var metadata: AMFObject { get }
    /// Seconds, as far as the container knows it.
    var duration: Double { get }
    /// The timestamp of the last audio or video tag, when known.
    var lastMediaTimestamp: UInt32? { get }
    /// AVC/AAC decoder configuration tags to send before media and again after a seek.
    var sequenceHeaders: [MediaTag] { get }
    /// Moves to the last keyframe at or before `milliseconds` (the start when there is
    /// none) and returns the timestamp that playback restarts from.
    @discardableResult
    func seek(to milliseconds: UInt32) throws(MediaFormatError) -> UInt32
    /// The time of the first keyframe (seek point) at or after `milliseconds`, or nil when
    /// none follows: where a switch to this rendition can begin.
    func keyframe(atOrAfter milliseconds: UInt32) -> UInt32?
    /// The next tag in timestamp order, or nil at the end. Sequence headers already
    /// reported in `sequenceHeaders` and the leading `onMetaData` are not repeated.
    func nextTag() throws(MediaFormatError) -> MediaTag?
}

extension MediaReader {
    /// `onMetaData` as players get it: the duration is at most the last tag's time.
    ///
    /// A file's duration runs one frame past its last tag (FFmpeg writes it so), but
    /// rtmpdump, and the downloaders built on it, call a download complete only when the
    /// last timestamp received reaches 99.9% of the duration: on a clip shorter than
    /// about half a minute, one frame more is "incomplete, try resuming" and exit status 2.
    public var metadataForPlayers: AMFObject {
        var object = metadata
        if let last = lastMediaTimestamp, let duration = object["duration"]?.doubleValue, duration * 1000 > Double(last) {
            object["duration"] = .number(Double(last) / 1000)
        }
        return object
    }
}

/// The containers Sluice plays.
public enum MediaContainer: String, Sendable {
    case flv, mp4, mp3

    /// Opens `file` with the reader for this container, sharing parsed indexes through `cache`.
    public func openReader(_ file: MediaFile, cache: MediaIndexCache) throws(MediaFormatError) -> any MediaReader {
        switch self {
        case .flv: return try FLVReader(file: file, cache: cache)
        case .mp4: return try MP4Reader(file: file, cache: cache)
        case .mp3: return try MP3Reader(file: file, cache: cache)
        }
    }
}
