/// The three kinds of FLV tag (Adobe FLV and F4V file format specification 10.1, E.4).
public enum FLVTagType: UInt8, Sendable {
    case audio = 8
    case video = 9
    case script = 18
}

/// One FLV tag: what RTMP carries as one audio, video or data message.
public struct MediaTag: Sendable, Equatable {
    public var type: FLVTagType
    /// Milliseconds on the stream's timeline.
    public var timestamp: UInt32
    /// The tag body as FLV stores it (for video: frame type and codec byte first).
    public var payload: [UInt8]

    public init(type: FLVTagType, timestamp: UInt32, payload: [UInt8]) {
        self.type = type
        self.timestamp = timestamp
        self.payload = payload
    }

    /// A video tag whose frame type is 1 (key frame, seekable).
    public var isKeyframe: Bool {
        type == .video && payload.first.map { $0 >> 4 == 1 } == true
    }

    /// AVC/HEVC decoder configuration or AAC AudioSpecificConfig: what a decoder needs
    /// before any frame, and what must be sent again after every seek.
    public var isSequenceHeader: Bool {
        guard payload.count >= 2 else { return false }
        switch type {
        case .video:
            let codec = payload[0] & 0x0F
            return (codec == VideoCodecID.avc.rawValue || codec == VideoCodecID.hevc.rawValue) && payload[1] == 0
        case .audio:
            return payload[0] >> 4 == AudioCodecID.aac.rawValue && payload[1] == 0
        case .script:
            return false
        }
    }
}

public enum VideoCodecID: UInt8, Sendable {
    case sorensonH263 = 2, screenVideo = 3, vp6 = 4, vp6Alpha = 5, screenVideo2 = 6, avc = 7
    /// Not in Adobe's table; the value that Chinese CDNs and FFmpeg forks use for HEVC in FLV.
    case hevc = 12
}

public enum AudioCodecID: UInt8, Sendable {
    case linearPCM = 0, adpcm = 1, mp3 = 2, linearPCMLittleEndian = 3, nellymoser16k = 4
    case nellymoser8k = 5, nellymoser = 6, g711ALaw = 7, g711MuLaw = 8, aac = 10, speex = 11
    case mp3At8k = 14, deviceSpecific = 15
}

/// The FLV file layout: a 9-byte header, then `PreviousTagSize0`, then tags each
/// followed by its own size.
public enum FLVFormat {
    public static let headerSize = 9
    public static let tagHeaderSize = 11

    /// Writes the file header (signature, version 1, flags, header size) and PreviousTagSize0.
    public static func fileHeader(hasAudio: Bool, hasVideo: Bool) -> [UInt8] {
        let flags: UInt8 = (hasAudio ? 0x04 : 0) | (hasVideo ? 0x01 : 0)
        return [0x46, 0x4C, 0x56, 0x01, flags, 0, 0, 0, 9, 0, 0, 0, 0]
    }

    /// Writes one tag: 11-byte header, body, then the 4-byte PreviousTagSize.
    public static func append(_ tag: MediaTag, to bytes: inout [UInt8]) {
        let size = UInt32(tag.payload.count)
        bytes.append(tag.type.rawValue)
        bytes.append(UInt8(truncatingIfNeeded: size >> 16))
        bytes.append(UInt8(truncatingIfNeeded: size >> 8))
        bytes.append(UInt8(truncatingIfNeeded: size))
        bytes.append(UInt8(truncatingIfNeeded: tag.timestamp >> 16))
        bytes.append(UInt8(truncatingIfNeeded: tag.timestamp >> 8))
        bytes.append(UInt8(truncatingIfNeeded: tag.timestamp))
        bytes.append(UInt8(truncatingIfNeeded: tag.timestamp >> 24))  // TimestampExtended
        bytes.append(contentsOf: [0, 0, 0])  // StreamID, always 0
        bytes.append(contentsOf: tag.payload)
        let total = size + UInt32(tagHeaderSize)
        bytes.append(UInt8(truncatingIfNeeded: total >> 24))
        bytes.append(UInt8(truncatingIfNeeded: total >> 16))
        bytes.append(UInt8(truncatingIfNeeded: total >> 8))
        bytes.append(UInt8(truncatingIfNeeded: total))
    }

    /// A tag header's fields.
    public struct TagHeader: Sendable {
        public var type: UInt8
        public var dataSize: Int
        public var timestamp: UInt32
    }

    public static func parseTagHeader(_ bytes: [UInt8]) throws(MediaFormatError) -> TagHeader {
        var reader = ByteReader(bytes)
        let type = try reader.readUInt8() & 0x1F  // bit 5 is the (unused) encryption filter flag
        let size = try reader.readUInt24()
        let low = try reader.readUInt24()
        let high = try reader.readUInt8()
        return TagHeader(type: type, dataSize: Int(size), timestamp: UInt32(high) << 24 | low)
    }
}
