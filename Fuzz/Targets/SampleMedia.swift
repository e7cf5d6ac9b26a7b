import Foundation
import SluiceMedia

/// Small media made in code, for fuzz targets and their seeds: an FLV with H.264 and
/// AAC headers, a keyframe each second and an `onMetaData` keyframe index.
public enum SampleMedia {
    /// `seconds` of 25 fps video with a keyframe every second, and AAC audio frames.
    public static func flv(seconds: Int = 4, keyframeIndex: Bool = true) -> [UInt8] {
        var tags: [MediaTag] = []
        tags.append(MediaTag(type: .video, timestamp: 0, payload: [0x17, 0x00, 0, 0, 0, 0x01, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0x00, 0x04,
                                                                   0x67, 0x42, 0xC0, 0x1E, 0x01, 0x00, 0x02, 0x68, 0xCE]))
        tags.append(MediaTag(type: .audio, timestamp: 0, payload: [0xAF, 0x00, 0x12, 0x10]))
        for frame in 0..<(seconds * 25) {
            let time = UInt32(frame * 40)
            let key = frame % 25 == 0
            tags.append(MediaTag(type: .video, timestamp: time, payload: [key ? 0x17 : 0x27, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88]))
            tags.append(MediaTag(type: .audio, timestamp: time, payload: [0xAF, 0x01, 0x21, 0x10, 0x04]))
        }
        var metadata: AMFObject = ["duration": .number(Double(seconds)), "width": 64, "height": 48,
                                   "videocodecid": 7, "audiocodecid": 10]
        var body = FLVFormat.fileHeader(hasAudio: true, hasVideo: true)
        if keyframeIndex {
            // Positions depend on the metadata tag's own size: write it once with zeros to
            // learn the size, then with the real offsets (same size: numbers are 9 bytes).
            let keyframes = tags.indices.filter { tags[$0].type == .video && tags[$0].payload[0] == 0x17 && tags[$0].payload[1] == 1 }
            var index = AMFObject()
            index["times"] = .strictArray(keyframes.map { .number(Double(tags[$0].timestamp) / 1000) })
            index["filepositions"] = .strictArray(keyframes.map { _ in .number(0) })
            metadata["keyframes"] = .object(index)
            let metadataSize = 11 + AMF0.encode([.string("onMetaData"), .ecmaArray(metadata)]).count + 4
            var offset = body.count + metadataSize
            var positions: [Int: Int] = [:]
            for (position, tag) in tags.enumerated() {
                positions[position] = offset
                offset += 11 + tag.payload.count + 4
            }
            index["filepositions"] = .strictArray(keyframes.map { .number(Double(positions[$0]!)) })
            metadata["keyframes"] = .object(index)
        }
        FLVFormat.append(MediaTag(type: .script, timestamp: 0, payload: AMF0.encode([.string("onMetaData"), .ecmaArray(metadata)])), to: &body)
        for tag in tags { FLVFormat.append(tag, to: &body) }
        return body
    }

    /// A bucket folder (`ROOT/media/…`) holding `clip.flv`, an empty file and a one-byte
    /// file, made once per process, for targets that open media by name.
    public static let bucketRoot: String = {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-fuzz-media-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: root + "/media/videos", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/media/clip.flv", contents: Data(flv()))
        _ = FileManager.default.createFile(atPath: root + "/media/videos/clip.flv", contents: Data(flv(seconds: 2, keyframeIndex: false)))
        _ = FileManager.default.createFile(atPath: root + "/media/low.flv", contents: Data(flv(seconds: 6)))
        _ = FileManager.default.createFile(atPath: root + "/media/empty.flv", contents: Data())
        _ = FileManager.default.createFile(atPath: root + "/media/one.flv", contents: Data([0x46]))
        _ = FileManager.default.createFile(atPath: root + "/media/empty.mp4", contents: Data())
        _ = FileManager.default.createFile(atPath: root + "/media/empty.mp3", contents: Data())
        return root
    }()
}
