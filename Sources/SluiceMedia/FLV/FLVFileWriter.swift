#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes an FLV file with a complete `onMetaData` in one pass over the media, as yamdi
/// would write it after the fact: duration, sizes, data rates, codecs, and the
/// `keyframes` index (`times` in seconds, `filepositions` as byte offsets of the keyframe
/// tags in the final file).
///
/// How, without rewriting the file: the metadata tag is written first with room for
/// `reservedKeyframes` index entries; the media follows; `finish()` then encodes the real
/// metadata and overwrites the reserved tag in place, padding the unused room with a
/// string member (`padding`), so no media byte moves. If more keyframes came than were
/// reserved, `finish()` falls back to a second pass that rewrites the file with a larger
/// metadata tag and shifted positions.
public final class FLVFileWriter {
    public struct StreamInfo: Sendable {
        public var hasVideo: Bool
        public var hasAudio: Bool
        public var width: Int
        public var height: Int
        public var frameRate: Double
        public var videoCodecID: UInt8
        public var audioCodecID: UInt8
        public var audioSampleRate: Int
        public var audioSampleSize: Int
        public var stereo: Bool
        /// Milliseconds one audio frame lasts (for the duration of the last one).
        public var audioFrameDuration: Double

        public init(hasVideo: Bool, hasAudio: Bool, width: Int = 0, height: Int = 0, frameRate: Double = 0,
                    videoCodecID: UInt8 = VideoCodecID.avc.rawValue, audioCodecID: UInt8 = AudioCodecID.aac.rawValue,
                    audioSampleRate: Int = 44100, audioSampleSize: Int = 16, stereo: Bool = true, audioFrameDuration: Double = 0) {
            self.hasVideo = hasVideo
            self.hasAudio = hasAudio
            self.width = width
            self.height = height
            self.frameRate = frameRate
            self.videoCodecID = videoCodecID
            self.audioCodecID = audioCodecID
            self.audioSampleRate = audioSampleRate
            self.audioSampleSize = audioSampleSize
            self.stereo = stereo
            self.audioFrameDuration = audioFrameDuration
        }
    }

    /// What was written, for manifests and logs.
    public struct Summary: Sendable, Equatable {
        public var fileSize: Int64
        public var duration: Double
        public var keyframeTimes: [Double]
        public var keyframePositions: [Int64]
        public var videoBytes: Int64
        public var audioBytes: Int64
        /// True when the reservation was too small and the file was written twice.
        public var usedSecondPass: Bool
    }

    public enum WriteError: Error, CustomStringConvertible {
        case io(String, path: String)
        case finished

        public var description: String {
            switch self {
            case .io(let reason, let path): return "cannot write \(path): \(reason)"
            case .finished: return "the FLV writer is already finished"
            }
        }
    }

    public let path: String
    public let info: StreamInfo
    public let creator: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private var position: Int64 = 0
    private let metadataOffset = Int64(13)
    private var reservedSize: Int
    private var keyframeTimes: [UInt32] = []
    private var keyframePositions: [Int64] = []
    private var videoBytes: Int64 = 0
    private var audioBytes: Int64 = 0
    private var lastTimestamp: UInt32 = 0
    private var lastVideoTimestamp: UInt32?
    private var lastAudioTimestamp: UInt32?
    private var isFinished = false

    static let bufferSize = 256 * 1024

    /// Creates (truncates) `path` and writes the header and the reserved metadata.
    public init(path: String, info: StreamInfo, reservedKeyframes: Int, creator: String = "Sluice") throws(WriteError) {
        self.path = path
        self.info = info
        self.creator = creator
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .io(String(cString: strerror(errno)), path: path) }
        buffer.reserveCapacity(Self.bufferSize + 64 * 1024)
        reservedSize = 0
        let placeholder = metadataTagBody(keyframes: max(1, reservedKeyframes), fileSize: 0, duration: 0)
        reservedSize = placeholder.count
        append(FLVFormat.fileHeader(hasAudio: info.hasAudio, hasVideo: info.hasVideo))
        var tag: [UInt8] = []
        FLVFormat.append(MediaTag(type: .script, timestamp: 0, payload: placeholder), to: &tag)
        append(tag)
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    private func append(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
        position += Int64(bytes.count)
    }

    private func flush() throws(WriteError) {
        guard buffer.withUnsafeBytes({ POSIXFile.writeAll(descriptor, $0) }) else {
            throw .io(String(cString: strerror(errno)), path: path)
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Appends one tag. Sequence headers count as media for the sizes but never as keyframes.
    public func write(_ tag: MediaTag) throws(WriteError) {
        guard !isFinished else { throw .finished }
        let tagStart = position
        let tagSize = Int64(FLVFormat.tagHeaderSize + tag.payload.count + 4)
        switch tag.type {
        case .video:
            videoBytes += tagSize
            if tag.isKeyframe, !tag.isSequenceHeader, tag.payload.count > 5 || tag.payload.first.map({ $0 & 0x0F }) != VideoCodecID.avc.rawValue {
                if keyframeTimes.last.map({ tag.timestamp > $0 }) ?? true {
                    keyframeTimes.append(tag.timestamp)
                    keyframePositions.append(tagStart)
                }
            }
            if !tag.isSequenceHeader { lastVideoTimestamp = max(lastVideoTimestamp ?? 0, tag.timestamp) }
        case .audio:
            audioBytes += tagSize
            if !tag.isSequenceHeader { lastAudioTimestamp = max(lastAudioTimestamp ?? 0, tag.timestamp) }
        case .script:
            break
        }
        lastTimestamp = max(lastTimestamp, tag.timestamp)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(tagSize))
        FLVFormat.append(tag, to: &bytes)
        append(bytes)
        if buffer.count >= Self.bufferSize { try flush() }
    }

    /// The media's end: the last frame's timestamp plus its own length.
    private var duration: Double {
        var end = 0.0
        if let video = lastVideoTimestamp {
            end = max(end, Double(video) + (info.frameRate > 0 ? 1000 / info.frameRate : 0))
        }
        if let audio = lastAudioTimestamp {
            end = max(end, Double(audio) + info.audioFrameDuration)
        }
        return (end.rounded() / 1000)
    }

    /// Writes the final metadata (in place, or by a second pass) and closes the file.
    @discardableResult
    public func finish() throws(WriteError) -> Summary {
        guard !isFinished else { throw .finished }
        isFinished = true
        try flush()
        let fileSize = position
        let duration = self.duration
        var secondPass = false
        var positions = keyframePositions
        var finalSize = fileSize
        let exact = metadataTagBody(keyframes: keyframeTimes.count, fileSize: fileSize, duration: duration,
                                    bodySize: reservedSize, padTo: reservedSize)
        if exact.count == reservedSize {
            var tag: [UInt8] = []
            FLVFormat.append(MediaTag(type: .script, timestamp: 0, payload: exact), to: &tag)
            try writeAt(metadataOffset, tag)
        } else {
            // More keyframes than reserved: write again with room for them all.
            secondPass = true
            (positions, finalSize) = try rewriteWithLargerMetadata(fileSize: fileSize, duration: duration)
        }
        close(descriptor)
        descriptor = -1
        return Summary(
            fileSize: finalSize, duration: duration, keyframeTimes: keyframeTimes.map { Double($0) / 1000 },
            keyframePositions: positions, videoBytes: videoBytes, audioBytes: audioBytes, usedSecondPass: secondPass)
    }

    private func writeAt(_ offset: Int64, _ bytes: [UInt8]) throws(WriteError) {
        var done = 0
        while done < bytes.count {
            let written = bytes.withUnsafeBytes { raw in pwrite(descriptor, raw.baseAddress! + done, raw.count - done, off_t(offset) + off_t(done)) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .io(String(cString: strerror(errno)), path: path)
            }
            done += written
        }
    }

    /// The fallback: copy the media after a metadata tag big enough for every keyframe.
    private func rewriteWithLargerMetadata(fileSize: Int64, duration: Double) throws(WriteError) -> ([Int64], Int64) {
        let oldMediaStart = metadataOffset + Int64(FLVFormat.tagHeaderSize + reservedSize + 4)
        // Sizes are fixed per keyframe count, so one trial encoding gives the new layout.
        let newBodySize = metadataTagBody(keyframes: keyframeTimes.count, fileSize: 0, duration: 0).count
        let shift = Int64(newBodySize - reservedSize)
        keyframePositions = keyframePositions.map { $0 + shift }
        let newFileSize = fileSize + shift
        let body = metadataTagBody(keyframes: keyframeTimes.count, fileSize: newFileSize, duration: duration, bodySize: newBodySize)
        let temporary = path + ".rewrite"
        guard let source = MediaFile(path: path) else { throw .io("cannot reopen for the second pass", path: path) }
        let target = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard target >= 0 else { throw .io(String(cString: strerror(errno)), path: temporary) }
        defer { close(target) }
        var head = FLVFormat.fileHeader(hasAudio: info.hasAudio, hasVideo: info.hasVideo)
        FLVFormat.append(MediaTag(type: .script, timestamp: 0, payload: body), to: &head)
        let previous = descriptor
        descriptor = target
        defer { descriptor = previous }
        buffer = head
        try flush()
        var offset = oldMediaStart
        while offset < fileSize {
            let count = Int(min(Int64(1 << 20), fileSize - offset))
            do {
                buffer = try source.read(at: offset, count: count)
            } catch {
                throw .io("\(error)", path: path)
            }
            try flush()
            offset += Int64(count)
        }
        guard rename(temporary, path) == 0 else { throw .io(String(cString: strerror(errno)), path: path) }
        return (keyframePositions, newFileSize)
    }

    /// The onMetaData body (name and ECMA array). Every member but the keyframe arrays
    /// has a fixed encoded size, so the size depends only on the keyframe count; with
    /// `padTo`, a `padding` string fills the body up to that size when it can.
    /// `bodySize` is the size the metadata body will have in the file (for `datasize`).
    func metadataTagBody(keyframes count: Int, fileSize: Int64, duration: Double, bodySize: Int = 0, padTo target: Int? = nil) -> [UInt8] {
        let kbit = { (bytes: Int64) -> Double in duration > 0 ? Double(bytes) * 8 / 1024 / duration : 0 }
        let headerAndMetadata = Int64(13 + FLVFormat.tagHeaderSize + bodySize + 4)
        var times = keyframeTimes.prefix(count).map { AMFValue.number(Double($0) / 1000) }
        var positions = keyframePositions.prefix(count).map { AMFValue.number(Double($0)) }
        while times.count < count {
            times.append(.number(0))
            positions.append(.number(0))
        }
        var object = AMFObject()
        object["metadatacreator"] = .string(creator)
        object["hasKeyframes"] = .boolean(!keyframeTimes.isEmpty)
        object["hasVideo"] = .boolean(info.hasVideo)
        object["hasAudio"] = .boolean(info.hasAudio)
        object["hasMetadata"] = .boolean(true)
        object["canSeekToEnd"] = .boolean(true)
        object["duration"] = .number(duration)
        object["datasize"] = .number(Double(max(0, fileSize - headerAndMetadata)))
        if info.hasVideo {
            object["videosize"] = .number(Double(videoBytes))
            object["framerate"] = .number(info.frameRate)
            object["videodatarate"] = .number(kbit(videoBytes))
            object["videocodecid"] = .number(Double(info.videoCodecID))
            object["width"] = .number(Double(info.width))
            object["height"] = .number(Double(info.height))
        }
        if info.hasAudio {
            object["audiosize"] = .number(Double(audioBytes))
            object["audiodatarate"] = .number(kbit(audioBytes))
            object["audiocodecid"] = .number(Double(info.audioCodecID))
            object["audiosamplerate"] = .number(Double(info.audioSampleRate))
            object["audiosamplesize"] = .number(Double(info.audioSampleSize))
            object["stereo"] = .boolean(info.stereo)
        }
        object["filesize"] = .number(Double(fileSize))
        object["lasttimestamp"] = .number(Double(lastTimestamp) / 1000)
        object["lastkeyframetimestamp"] = .number(Double(keyframeTimes.last ?? 0) / 1000)
        object["lastkeyframelocation"] = .number(Double(keyframePositions.last ?? 0))
        object["keyframes"] = .object(["filepositions": .strictArray(positions), "times": .strictArray(times)])
        var body = AMF0.encode([.string("onMetaData"), .ecmaArray(object)])
        // "padding": a string member takes 2 + 7 + 1 + 2 bytes plus its text.
        let paddingOverhead = 12
        let room = (target ?? (body.count + paddingOverhead)) - body.count - paddingOverhead
        if room >= 0, room <= Int(UInt16.max) {
            object["padding"] = .string(String(repeating: " ", count: room))
            body = AMF0.encode([.string("onMetaData"), .ecmaArray(object)])
        }
        return body
    }
}
