/// Plays an FLV file tag by tag, whatever its codecs.
///
/// Seeks use the file's own `keyframes` index from `onMetaData` when it is present and
/// points at real keyframe tags; otherwise the file is scanned once and the index is
/// kept in the shared cache.
public final class FLVReader: MediaReader {
    /// What is learned once per file version and shared by every session playing it.
    struct Index: Sendable {
        var metadata: AMFObject
        var duration: Double
        var sequenceHeaders: [MediaTag]
        /// Offsets of tags that are sent out of band (the leading onMetaData and the
        /// sequence headers) and so are skipped in the tag stream.
        var skippedOffsets: Set<Int64>
        var firstTagOffset: Int64
        var seekPoints: [SeekPoint]
        var lastMediaTimestamp: UInt32?
    }

    struct SeekPoint: Sendable, Equatable {
        var time: UInt32
        var offset: Int64
    }

    private let index: Index
    private var reader: WindowedFileReader
    private var position: Int64

    public var metadata: AMFObject { index.metadata }
    public var duration: Double { index.duration }
    public var sequenceHeaders: [MediaTag] { index.sequenceHeaders }
    public var lastMediaTimestamp: UInt32? { index.lastMediaTimestamp }

    public init(file: MediaFile, cache: MediaIndexCache) throws(MediaFormatError) {
        var reader = WindowedFileReader(file: file)
        let index = try cache.index(for: file.identity) { () throws(MediaFormatError) -> Index in
            try Self.buildIndex(&reader)
        }
        self.index = index
        self.reader = reader
        self.position = index.firstTagOffset
    }

    public func seek(to milliseconds: UInt32) throws(MediaFormatError) -> UInt32 {
        // The last seek point at or before the target.
        var low = 0, high = index.seekPoints.count
        while low < high {
            let middle = (low + high) / 2
            if index.seekPoints[middle].time <= milliseconds { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else {
            position = index.firstTagOffset
            return 0
        }
        let point = index.seekPoints[low - 1]
        position = point.offset
        return point.time
    }

    public func keyframe(atOrAfter milliseconds: UInt32) -> UInt32? {
        var low = 0, high = index.seekPoints.count
        while low < high {
            let middle = (low + high) / 2
            if index.seekPoints[middle].time < milliseconds { low = middle + 1 } else { high = middle }
        }
        return low < index.seekPoints.count ? index.seekPoints[low].time : nil
    }

    public func nextTag() throws(MediaFormatError) -> MediaTag? {
        let size = reader.file.size
        while position + Int64(FLVFormat.tagHeaderSize) <= size {
            let tagOffset = position
            let header = try FLVFormat.parseTagHeader(reader.read(at: tagOffset, count: FLVFormat.tagHeaderSize))
            let bodyOffset = tagOffset + Int64(FLVFormat.tagHeaderSize)
            // A tag cut short by a truncated upload ends the stream rather than failing it.
            guard bodyOffset + Int64(header.dataSize) <= size else { return nil }
            position = bodyOffset + Int64(header.dataSize) + 4
            guard let type = FLVTagType(rawValue: header.type), !index.skippedOffsets.contains(tagOffset) else {
                continue
            }
            let payload = try reader.read(at: bodyOffset, count: header.dataSize)
            if payload.isEmpty && type != .script { continue }
            return MediaTag(type: type, timestamp: header.timestamp, payload: payload)
        }
        return nil
    }

    // MARK: Index

    static func buildIndex(_ reader: inout WindowedFileReader) throws(MediaFormatError) -> Index {
        let file = reader.file
        let header = try reader.read(at: 0, count: FLVFormat.headerSize)
        guard header[0] == 0x46, header[1] == 0x4C, header[2] == 0x56 else {
            throw .invalid("not an FLV file (no FLV signature)")
        }
        let dataOffset = Int64(UInt32(header[5]) << 24 | UInt32(header[6]) << 16 | UInt32(header[7]) << 8 | UInt32(header[8]))
        guard dataOffset >= 9, dataOffset < file.size else { throw .invalid("FLV header size \(dataOffset) is invalid") }
        let firstTag = dataOffset + 4

        var metadata: AMFObject?
        var skipped = Set<Int64>()
        var videoHeader: MediaTag?
        var audioHeader: MediaTag?
        var scan = Scan()

        // Walk the leading tags for onMetaData and the decoder configuration; keep walking
        // to the end only when the file's own index cannot be trusted.
        var offset = firstTag
        var leadingTags = 0
        var needFullScan = true
        while offset + Int64(FLVFormat.tagHeaderSize) <= file.size {
            let tagHeader = try FLVFormat.parseTagHeader(reader.read(at: offset, count: FLVFormat.tagHeaderSize))
            let body = offset + Int64(FLVFormat.tagHeaderSize)
            guard body + Int64(tagHeader.dataSize) <= file.size else { break }
            leadingTags += 1
            if leadingTags <= 64 {
                if tagHeader.type == FLVTagType.script.rawValue, metadata == nil {
                    let bytes = try reader.read(at: body, count: tagHeader.dataSize)
                    if let values = try? AMF0.decodeAll(bytes), values.first?.stringValue == "onMetaData",
                       let object = values.dropFirst().first?.objectValue {
                        metadata = object
                        skipped.insert(offset)
                    }
                } else if tagHeader.type == FLVTagType.video.rawValue || tagHeader.type == FLVTagType.audio.rawValue {
                    let peek = try reader.read(at: body, count: min(tagHeader.dataSize, 2))
                    let probe = MediaTag(type: FLVTagType(rawValue: tagHeader.type)!, timestamp: tagHeader.timestamp, payload: peek)
                    if probe.isSequenceHeader {
                        let full = MediaTag(type: probe.type, timestamp: 0, payload: try reader.read(at: body, count: tagHeader.dataSize))
                        if probe.type == .video, videoHeader == nil {
                            videoHeader = full
                            skipped.insert(offset)
                        } else if probe.type == .audio, audioHeader == nil {
                            audioHeader = full
                            skipped.insert(offset)
                        }
                    }
                }
            } else if !needFullScan {
                break
            }
            if leadingTags == 64, let metadata, let points = trustedIndex(metadata, reader: &reader, firstTag: firstTag),
               let given = metadata["duration"]?.doubleValue, given.isFinite, given > 0 {
                scan.seekPoints = points
                needFullScan = false
                break
            }
            try scan.note(tagHeader, at: offset, reader: &reader)
            offset = body + Int64(tagHeader.dataSize) + 4
        }
        if needFullScan, leadingTags < 64, let metadata,
           let points = trustedIndex(metadata, reader: &reader, firstTag: firstTag), !points.isEmpty {
            scan.seekPoints = points
        }

        var sequenceHeaders: [MediaTag] = []
        if let videoHeader { sequenceHeaders.append(videoHeader) }
        if let audioHeader { sequenceHeaders.append(audioHeader) }
        let filled = fillMetadata(metadata ?? AMFObject(), scan: scan, videoHeader: videoHeader, fileSize: file.size)
        return Index(
            metadata: filled,
            duration: filled["duration"]?.doubleValue.flatMap { $0.isFinite ? $0 : nil } ?? 0,
            sequenceHeaders: sequenceHeaders,
            skippedOffsets: skipped,
            firstTagOffset: firstTag,
            seekPoints: scan.seekPoints,
            lastMediaTimestamp: needFullScan ? (scan.videoBytes + scan.audioBytes > 0 ? scan.lastTimestamp : nil)
                : lastMediaTimestamp(&reader, firstTag: firstTag))
    }

    /// The last audio or video frame's time, read backwards from the end through the
    /// PreviousTagSize fields (a file whose own index is trusted is not scanned): the
    /// latest of the last 16 tags, leaving out the 5-byte AVC end-of-sequence tag FFmpeg
    /// writes last (players skip it). Nil when the tail does not hold together.
    static func lastMediaTimestamp(_ reader: inout WindowedFileReader, firstTag: Int64) -> UInt32? {
        var end = reader.file.size
        var latest: UInt32?
        for _ in 0..<16 {
            guard end - firstTag >= Int64(FLVFormat.tagHeaderSize) + 4,
                  let sizeBytes = try? reader.read(at: end - 4, count: 4), sizeBytes.count == 4 else { break }
            let tagSize = Int64(UInt32(sizeBytes[0]) << 24 | UInt32(sizeBytes[1]) << 16 | UInt32(sizeBytes[2]) << 8 | UInt32(sizeBytes[3]))
            let start = end - 4 - tagSize
            guard tagSize >= Int64(FLVFormat.tagHeaderSize), start >= firstTag,
                  let bytes = try? reader.read(at: start, count: FLVFormat.tagHeaderSize),
                  let header = try? FLVFormat.parseTagHeader(bytes), Int64(header.dataSize) + Int64(FLVFormat.tagHeaderSize) == tagSize
            else { break }
            let isFrame = header.type == FLVTagType.video.rawValue && header.dataSize > 5 || header.type == FLVTagType.audio.rawValue && header.dataSize > 1
            if isFrame { latest = max(latest ?? 0, header.timestamp) }
            end = start
        }
        return latest
    }

    /// The `keyframes` index of `onMetaData` (yamdi, flvmeta, FFmpeg's add_keyframe_index),
    /// if every position really is a video keyframe tag. Times come from the tags
    /// themselves: writers round them, and FFmpeg's leave out the stream's start offset,
    /// so a seek by the index's times could land after its target.
    static func trustedIndex(_ metadata: AMFObject, reader: inout WindowedFileReader, firstTag: Int64) -> [SeekPoint]? {
        guard let keyframes = metadata["keyframes"]?.objectValue,
              let positions = keyframes["filepositions"]?.arrayValue?.compactMap(\.doubleValue),
              !positions.isEmpty
        else { return nil }
        var points: [SeekPoint] = []
        points.reserveCapacity(positions.count)
        for position in positions {
            guard position.isFinite, position >= Double(firstTag), position < Double(reader.file.size),
                  // Keyframes lie far apart: read the 12 bytes alone, not a read-ahead window.
                  let bytes = try? reader.file.read(at: Int64(position), count: FLVFormat.tagHeaderSize + 1),
                  bytes[0] & 0x1F == FLVTagType.video.rawValue, bytes[11] >> 4 == 1,
                  let header = try? FLVFormat.parseTagHeader(bytes)
            else { return nil }
            let point = SeekPoint(time: header.timestamp, offset: Int64(position))
            if let last = points.last, point.time < last.time || point.offset <= last.offset { return nil }
            points.append(point)
        }
        return points
    }

    /// Running totals of one walk over the tags.
    struct Scan {
        var seekPoints: [SeekPoint] = []
        var lastTimestamp: UInt32 = 0
        var videoBytes = 0
        var audioBytes = 0
        var videoTags = 0
        var videoCodec: UInt8?
        var audioFlags: UInt8?
        var hasVideo = false
        private var lastAudioPoint: UInt32?

        mutating func note(_ header: FLVFormat.TagHeader, at offset: Int64, reader: inout WindowedFileReader) throws(MediaFormatError) {
            guard header.dataSize > 0 else { return }
            switch header.type {
            case FLVTagType.video.rawValue:
                let head = try reader.read(at: offset + Int64(FLVFormat.tagHeaderSize), count: min(2, header.dataSize))
                let first = head[0]
                // An AVC/HEVC tag is a frame only with packet type 1; 0 is the decoder
                // configuration and 2 the end of sequence (FFmpeg writes one, flagged key).
                let codec = first & 0x0F
                let isFrame = !(codec == VideoCodecID.avc.rawValue || codec == VideoCodecID.hevc.rawValue) || (head.count == 2 && head[1] == 1)
                if !hasVideo {
                    // Audio seek points were only a stand-in until video appeared.
                    hasVideo = true
                    seekPoints.removeAll()
                }
                videoCodec = first & 0x0F
                videoBytes += header.dataSize
                videoTags += 1
                if first >> 4 == 1, isFrame, seekPoints.last.map({ header.timestamp > $0.time }) ?? true {
                    seekPoints.append(SeekPoint(time: header.timestamp, offset: offset))
                }
                lastTimestamp = max(lastTimestamp, header.timestamp)
            case FLVTagType.audio.rawValue:
                let first = try reader.read(at: offset + Int64(FLVFormat.tagHeaderSize), count: 1)[0]
                audioFlags = first
                audioBytes += header.dataSize
                // Audio-only files: a seek point about every second.
                // (In 64 bits: a file's timestamps may sit just below UInt32.max.)
                if !hasVideo, lastAudioPoint.map({ UInt64(header.timestamp) >= UInt64($0) + 1000 }) ?? true {
                    seekPoints.append(SeekPoint(time: header.timestamp, offset: offset))
                    lastAudioPoint = header.timestamp
                }
                lastTimestamp = max(lastTimestamp, header.timestamp)
            default:
                break
            }
        }
    }

    /// Adds what players need and the file's metadata lacks, without overriding the file.
    static func fillMetadata(_ original: AMFObject, scan: Scan, videoHeader: MediaTag?, fileSize: Int64) -> AMFObject {
        var metadata = original
        let scanned = scan.lastTimestamp > 0 || scan.videoBytes + scan.audioBytes > 0
        let duration = Double(scan.lastTimestamp) / 1000
        // A file's own duration counts only when it is a real length: NaN, infinite or
        // not positive (a hostile or broken onMetaData) is replaced by what the scan saw,
        // or dropped, so that no later conversion of it can trap.
        let given = metadata["duration"]?.doubleValue ?? 0
        if !(given.isFinite && given > 0 && given < 1e9) {
            metadata["duration"] = scanned ? .number(duration) : nil
        }
        if metadata["width"] == nil || metadata["height"] == nil,
           let header = videoHeader,
           let size = AVCSequenceParameterSet.dimensions(fromFLVSequenceHeader: header.payload) {
            metadata["width"] = .number(Double(size.width))
            metadata["height"] = .number(Double(size.height))
        }
        if metadata["videocodecid"] == nil, let codec = scan.videoCodec ?? videoHeader.map({ $0.payload[0] & 0x0F }) {
            metadata["videocodecid"] = .number(Double(codec))
        }
        if metadata["audiocodecid"] == nil, let flags = scan.audioFlags {
            metadata["audiocodecid"] = .number(Double(flags >> 4))
        }
        if duration > 0 {
            if metadata["videodatarate"] == nil, scan.videoBytes > 0 {
                metadata["videodatarate"] = .number(Double(scan.videoBytes) * 8 / 1000 / duration)
            }
            if metadata["audiodatarate"] == nil, scan.audioBytes > 0 {
                metadata["audiodatarate"] = .number(Double(scan.audioBytes) * 8 / 1000 / duration)
            }
            if metadata["framerate"] == nil, scan.videoTags > 1 {
                metadata["framerate"] = .number((Double(scan.videoTags - 1) / duration * 100).rounded() / 100)
            }
        }
        if metadata["filesize"] == nil { metadata["filesize"] = .number(Double(fileSize)) }
        return metadata
    }
}
