import Foundation
import Logging

/// One line per play and one per outcome, as an operator reads them: the object in its
/// bucket, what happened, the bytes sent and for how long, and the client's address.
extension RTMPConnection {
    func logPlay(_ playback: VODPlayback, _ outcome: String, level: Logger.Level = .info, totals: Bool = true) {
        let route = session.route.map { "\($0.bucket)/" } ?? ""
        let seconds = Double(latestNow &- playback.startedAt) / 1000
        let object = playback.objectKey.isEmpty ? playback.name : playback.objectKey
        var line = "play \(route)\(object): \(outcome)"
        if totals {
            line += String(format: ", %llu bytes in %.1f s", playback.bytesSent, seconds)
        }
        logger.log(level: level, "\(line), client \(peerAddress)",
                   metadata: ["stream": "\(playback.name)", "bytes": "\(playback.bytesSent)", "client": "\(peerAddress)"])
    }

    /// A play refused before it started; the player was sent NetStream.Play.StreamNotFound.
    func logRefusedPlay(_ name: String, _ outcome: String, level: Logger.Level = .info) {
        let route = session.route.map { "\($0.bucket)/\($0.keyPrefix)" } ?? ""
        logger.log(level: level, "play \(route)\(name): \(outcome) (NetStream.Play.StreamNotFound), client \(peerAddress)",
                   metadata: ["stream": "\(name)", "client": "\(peerAddress)"])
    }
}
