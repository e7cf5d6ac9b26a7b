import Foundation
import SluiceMedia

/// Reads every tag of an FLV file into memory: for comparing what a client saved with
/// the source. Test files are small.
public struct FLVFile {
    public var tags: [MediaTag]

    public init(path: String) throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        guard bytes.count >= 13, bytes[0] == 0x46, bytes[1] == 0x4C, bytes[2] == 0x56 else {
            throw MediaFormatError.invalid("\(path) is not an FLV file")
        }
        let headerSize = Int(bytes[5]) << 24 | Int(bytes[6]) << 16 | Int(bytes[7]) << 8 | Int(bytes[8])
        var offset = headerSize + 4
        tags = []
        while offset + 11 <= bytes.count {
            let header = try FLVFormat.parseTagHeader(Array(bytes[offset..<offset + 11]))
            let end = offset + 11 + header.dataSize
            guard end <= bytes.count else { break }
            if let type = FLVTagType(rawValue: header.type) {
                tags.append(MediaTag(type: type, timestamp: header.timestamp, payload: Array(bytes[offset + 11..<end])))
            }
            offset = end + 4
        }
    }

    public var video: [MediaTag] { tags.filter { $0.type == .video } }

    /// The audio and video tags that librtmp writes out: it drops video messages of five
    /// bytes or less (an AVC end-of-sequence tag, say) and audio messages of one byte.
    public var mediaKeptByLibrtmp: [MediaTag] { Self.keptByLibrtmp(tags) }

    public static func keptByLibrtmp(_ tags: [MediaTag]) -> [MediaTag] {
        tags.filter { $0.type == .video && $0.payload.count > 5 || $0.type == .audio && $0.payload.count > 1 }
    }
    public var audio: [MediaTag] { tags.filter { $0.type == .audio } }

    /// The first onMetaData object.
    public var metadata: AMFObject? {
        for tag in tags where tag.type == .script {
            if let values = try? AMF0.decodeAll(tag.payload), values.first?.stringValue == "onMetaData" {
                return values.dropFirst().first?.objectValue
            }
        }
        return nil
    }

    /// `keyframes.filepositions` of the onMetaData index: where players seek to.
    public var keyframeFilePositions: [Int64] {
        guard case .object(let keyframes)? = metadata?["keyframes"], case .strictArray(let positions)? = keyframes["filepositions"] else {
            return []
        }
        return positions.compactMap { $0.doubleValue.map { Int64($0) } }
    }
}

