import CFFmpeg
import Foundation
import SluiceMedia

/// One rendition's FLV file: tags from the rung's audio and video encoders, put in
/// timestamp order (encoders run ahead of each other by a few frames) and written by
/// SluiceMedia's FLV writer to a temporary name.
final class RungOutput {
    let rung: PlannedRung
    let finalPath: String
    let temporaryPath: String
    private let writer: FLVFileWriter
    private var pending: [MediaTag] = []
    private var lastVideo: UInt32?
    private var lastAudio: UInt32?
    let expectsVideo: Bool
    let expectsAudio: Bool
    /// The MP4 copy, when the preset asks for one.
    var mp4: MP4Muxer?
    /// A rung's video is encoded on its own queue and its audio on the decoding thread:
    /// both write here.
    private let lock = NSLock()

    init(rung: PlannedRung, finalPath: String, info: FLVFileWriter.StreamInfo, reservedKeyframes: Int) throws(TranscodeError) {
        self.rung = rung
        self.finalPath = finalPath
        temporaryPath = Libav.temporaryPath(for: finalPath)
        expectsVideo = info.hasVideo
        expectsAudio = info.hasAudio
        do {
            writer = try FLVFileWriter(path: temporaryPath, info: info, reservedKeyframes: reservedKeyframes)
        } catch {
            throw TranscodeError(error.description)
        }
    }

    /// Adds a tag and, when there is an MP4 copy, writes the packet it came from there.
    func add(_ tag: MediaTag, packet: UnsafeMutablePointer<AVPacket>? = nil, video: Bool = false) throws(TranscodeError) {
        lock.lock()
        defer { lock.unlock() }
        if let packet { try mp4?.write(packet, video: video) }
        if tag.isSequenceHeader {
            try write(tag)
            return
        }
        pending.append(tag)
        if tag.type == .video { lastVideo = tag.timestamp } else if tag.type == .audio { lastAudio = tag.timestamp }
        // Everything up to the later stream's laggard can go out in order.
        let horizon: UInt32
        switch (expectsVideo, expectsAudio) {
        case (true, true): horizon = min(lastVideo ?? 0, lastAudio ?? 0)
        case (true, false): horizon = lastVideo ?? 0
        default: horizon = lastAudio ?? 0
        }
        guard pending.count > 16 else { return }
        pending.sort { ($0.timestamp, $0.type == .video ? 0 : 1) < ($1.timestamp, $1.type == .video ? 0 : 1) }
        let ready = pending.prefix { $0.timestamp <= horizon }
        for tag in ready { try write(tag) }
        pending.removeFirst(ready.count)
    }

    private func write(_ tag: MediaTag) throws(TranscodeError) {
        do {
            try writer.write(tag)
        } catch {
            throw TranscodeError(error.description)
        }
    }

    /// Writes what is left and the final metadata; the file stays at its temporary name.
    func finish() throws(TranscodeError) -> FLVFileWriter.Summary {
        lock.lock()
        defer { lock.unlock() }
        pending.sort { ($0.timestamp, $0.type == .video ? 0 : 1) < ($1.timestamp, $1.type == .video ? 0 : 1) }
        for tag in pending { try write(tag) }
        pending.removeAll()
        do {
            return try writer.finish()
        } catch {
            throw TranscodeError(error.description)
        }
    }
}
