import Foundation
import SluiceMedia

/// The media readers, on files of the fuzzer's making: open (index), metadata, tags to
/// the end, and seeks anywhere.
enum MediaTargets {
    static let flv = FuzzTarget(name: "flv", summary: "FLVReader: index, onMetaData, tags, seeks",
                                seeds: { [SampleMedia.flv(), SampleMedia.flv(seconds: 1, keyframeIndex: false)] }) { bytes in
        play(bytes, as: .flv)
    }

    static let mp4 = FuzzTarget(name: "mp4", summary: "MP4Reader: boxes, sample tables, tags, seeks") { bytes in
        play(bytes, as: .mp4)
    }

    static let mp3 = FuzzTarget(name: "mp3", summary: "MP3Reader: ID3, frame headers, tags, seeks") { bytes in
        play(bytes, as: .mp3)
    }

    /// The file each input is written to: one per process, on the temporary folder.
    static let scratchPath = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-fuzz-\(getpid()).media").path

    /// Plays `bytes` as a session would: metadata, sequence headers, then tags with seeks
    /// at times the file's own last bytes choose.
    static func play(_ bytes: [UInt8], as container: MediaContainer) {
        guard FileManager.default.createFile(atPath: scratchPath, contents: Data(bytes)), let file = MediaFile(path: scratchPath) else {
            fatalError("cannot write the scratch file \(scratchPath)")
        }
        guard let reader = try? container.openReader(file, cache: MediaIndexCache(capacity: 1)) else { return }
        _ = AMF0.encode([.string("onMetaData"), .ecmaArray(reader.metadata)])
        require(!reader.duration.isNaN, "duration is NaN")
        _ = reader.sequenceHeaders
        var seeks = FuzzInput(Array(bytes.suffix(8)))
        var previous: UInt32 = 0
        for round in 0..<3 {
            var tags = 0
            do {
                while let tag = try reader.nextTag(), tags < 5000 {
                    require(tag.payload.count < 1 << 24, "a tag of \(tag.payload.count) bytes")
                    tags += 1
                    if round == 0 { previous = tag.timestamp }
                }
            } catch {
                return
            }
            let targets: [UInt32] = [seeks.uint32(), previous / 2, 0, .max]
            guard (try? reader.seek(to: targets[round])) != nil else { return }
        }
    }
}
