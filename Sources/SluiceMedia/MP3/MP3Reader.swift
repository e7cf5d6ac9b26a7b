/// Plays an MP3 file (MPEG-1/2/2.5 Layer III) as FLV audio tags, one frame per tag,
/// skipping ID3v2 tags at the start and ID3v1 at the end.
public final class MP3Reader: MediaReader {
    struct FrameHeader: Equatable {
        var sampleRate: Int
        var samplesPerFrame: Int
        var length: Int
        var bitrate: Int
        var stereo: Bool

        /// Parses a 4-byte MPEG audio frame header (ISO 11172-3 2.4.1.3), Layer III only.
        init?(_ b: [UInt8]) {
            guard b.count >= 4, b[0] == 0xFF, b[1] & 0xE0 == 0xE0 else { return nil }
            let version = (b[1] >> 3) & 3  // 0: MPEG 2.5, 2: MPEG 2, 3: MPEG 1
            let layer = (b[1] >> 1) & 3  // 1: Layer III
            let bitrateIndex = Int(b[2] >> 4)
            let rateIndex = Int((b[2] >> 2) & 3)
            guard version != 1, layer == 1, bitrateIndex != 0, bitrateIndex != 15, rateIndex != 3 else { return nil }
            let mpeg1 = version == 3
            let kbps = mpeg1
                ? [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320][bitrateIndex]
                : [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160][bitrateIndex]
            let rates = [[11025, 12000, 8000], [], [22050, 24000, 16000], [44100, 48000, 32000]]
            sampleRate = rates[Int(version)][rateIndex]
            samplesPerFrame = mpeg1 ? 1152 : 576
            bitrate = kbps * 1000
            let padding = Int((b[2] >> 1) & 1)
            length = (mpeg1 ? 144 : 72) * bitrate / sampleRate + padding
            stereo = b[3] >> 6 != 3
        }
    }

    struct Index: Sendable {
        var frameOffsets: [Int64]
        var frameLengths: [UInt16]
        var sampleRate: Int
        var samplesPerFrame: Int
        var flags: UInt8
        var metadata: AMFObject
        var duration: Double
    }

    private let index: Index
    private var reader: WindowedFileReader
    private var next = 0

    public var metadata: AMFObject { index.metadata }
    public var duration: Double { index.duration }
    public var sequenceHeaders: [MediaTag] { [] }
    public var lastMediaTimestamp: UInt32? { index.frameOffsets.isEmpty ? nil : timestamp(ofFrame: index.frameOffsets.count - 1) }

    public init(file: MediaFile, cache: MediaIndexCache) throws(MediaFormatError) {
        var reader = WindowedFileReader(file: file)
        self.index = try cache.index(for: file.identity) { () throws(MediaFormatError) -> Index in
            try Self.scan(&reader)
        }
        self.reader = reader
    }

    public func seek(to milliseconds: UInt32) throws(MediaFormatError) -> UInt32 {
        let frame = Int(UInt64(milliseconds) * UInt64(index.sampleRate) / (1000 * UInt64(index.samplesPerFrame)))
        next = min(frame, index.frameOffsets.count)
        return timestamp(ofFrame: next)
    }

    /// Every MP3 frame can begin playback.
    public func keyframe(atOrAfter milliseconds: UInt32) -> UInt32? {
        let samples = UInt64(milliseconds) * UInt64(index.sampleRate)
        let perFrame = 1000 * UInt64(index.samplesPerFrame)
        let frame = (samples + perFrame - 1) / perFrame
        guard frame < UInt64(index.frameOffsets.count) else { return nil }
        return timestamp(ofFrame: Int(frame))
    }

    public func nextTag() throws(MediaFormatError) -> MediaTag? {
        guard next < index.frameOffsets.count else { return nil }
        let data = try reader.read(at: index.frameOffsets[next], count: Int(index.frameLengths[next]))
        let tag = MediaTag(type: .audio, timestamp: timestamp(ofFrame: next), payload: [index.flags] + data)
        next += 1
        return tag
    }

    private func timestamp(ofFrame frame: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: UInt64(frame) * UInt64(index.samplesPerFrame) * 1000 / UInt64(index.sampleRate))
    }

    /// The FLV SoundFormat/SoundRate/SoundSize/SoundType byte for MP3 (FLV spec E.4.2.1).
    public static func flvAudioFlags(sampleRate: Int, stereo: Bool) -> UInt8 {
        let format: UInt8 = sampleRate == 8000 ? AudioCodecID.mp3At8k.rawValue : AudioCodecID.mp3.rawValue
        let rate: UInt8 = sampleRate >= 32000 ? 3 : sampleRate >= 16000 ? 2 : sampleRate >= 11025 ? 1 : 0
        return format << 4 | rate << 2 | 0x02 | (stereo ? 1 : 0)
    }

    static func scan(_ reader: inout WindowedFileReader) throws(MediaFormatError) -> Index {
        let size = reader.file.size
        var offset: Int64 = 0
        // ID3v2: "ID3", version, flags, then a 28-bit syncsafe size (+10 more with a footer).
        while offset + 10 <= size {
            let id3 = try reader.read(at: offset, count: 10)
            guard id3[0] == 0x49, id3[1] == 0x44, id3[2] == 0x33 else { break }
            let tagSize = Int64(id3[6] & 0x7F) << 21 | Int64(id3[7] & 0x7F) << 14 | Int64(id3[8] & 0x7F) << 7 | Int64(id3[9] & 0x7F)
            offset += 10 + tagSize + (id3[5] & 0x10 != 0 ? 10 : 0)
        }
        var offsets: [Int64] = []
        var lengths: [UInt16] = []
        var first: FrameHeader?
        var totalBytes = 0
        var resyncBudget = 64 * 1024
        while offset + 4 <= size {
            let bytes = try reader.read(at: offset, count: 4)
            if let header = FrameHeader(bytes), offset + Int64(header.length) <= size,
               first == nil ? try isFollowedByFrame(offset + Int64(header.length), &reader) : header.sampleRate == first!.sampleRate {
                if first == nil {
                    first = header
                    // A Xing/Info/VBRI frame holds the encoder's table of contents, not sound.
                    if try isInformationFrame(at: offset, header: header, bytes: bytes, &reader) {
                        offset += Int64(header.length)
                        continue
                    }
                }
                offsets.append(offset)
                lengths.append(UInt16(header.length))
                totalBytes += header.length
                offset += Int64(header.length)
                resyncBudget = 64 * 1024
                continue
            }
            if bytes[0] == 0x54, bytes[1] == 0x41, bytes[2] == 0x47, size - offset == 128 { break }  // ID3v1
            // Garbage between frames: look for the next sync word, within limits.
            resyncBudget -= 1
            if resyncBudget <= 0 { break }
            offset += 1
        }
        guard let first, !offsets.isEmpty else { throw .invalid("no MPEG audio Layer III frames found") }
        let duration = Double(offsets.count * first.samplesPerFrame) / Double(first.sampleRate)
        let flags = flvAudioFlags(sampleRate: first.sampleRate, stereo: first.stereo)
        let metadata: AMFObject = [
            "duration": .number(duration),
            "audiocodecid": .number(Double(flags >> 4)),
            "audiosamplerate": .number(Double(first.sampleRate)),
            "audiosamplesize": .number(16),
            "stereo": .boolean(first.stereo),
            "audiodatarate": .number(duration > 0 ? Double(totalBytes) * 8 / 1000 / duration : 0),
            "hasVideo": .boolean(false),
            "hasAudio": .boolean(true),
            "canSeekToEnd": .boolean(true),
            "filesize": .number(Double(size)),
        ]
        return Index(frameOffsets: offsets, frameLengths: lengths, sampleRate: first.sampleRate,
                     samplesPerFrame: first.samplesPerFrame, flags: flags, metadata: metadata, duration: duration)
    }

    /// The Xing/Info tag sits after the side information (ISO 11172-3 2.4.1.7): 32 bytes
    /// for MPEG-1 stereo, 17 for MPEG-1 mono or MPEG-2 stereo, 9 for MPEG-2 mono; VBRI at 32.
    private static func isInformationFrame(at offset: Int64, header: FrameHeader, bytes: [UInt8], _ reader: inout WindowedFileReader) throws(MediaFormatError) -> Bool {
        let mpeg1 = header.samplesPerFrame == 1152
        let sideInformation = mpeg1 ? (header.stereo ? 32 : 17) : (header.stereo ? 17 : 9)
        guard header.length >= 4 + 36 + 4 else { return false }
        let frame = try reader.read(at: offset, count: min(header.length, 4 + 36 + 4))
        let tag = String(decoding: frame[(4 + sideInformation)..<(8 + sideInformation)], as: UTF8.self)
        let vbri = String(decoding: frame[36..<40], as: UTF8.self)
        return tag == "Xing" || tag == "Info" || vbri == "VBRI"
    }

    /// A first frame is trusted only if another frame header follows it (or the file ends),
    /// so stray 0xFFE bytes in leftover tags are not taken for audio.
    private static func isFollowedByFrame(_ offset: Int64, _ reader: inout WindowedFileReader) throws(MediaFormatError) -> Bool {
        if offset + 4 > reader.file.size { return true }
        return FrameHeader(try reader.read(at: offset, count: 4)) != nil
    }
}
