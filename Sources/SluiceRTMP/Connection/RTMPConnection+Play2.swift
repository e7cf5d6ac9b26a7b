import NIOCore
import SluiceMedia

/// play2: dynamic streaming (switch between renditions of one asset at a keyframe, with
/// no break in the timeline) and the playlist transitions of NetStreamPlayTransitions.
extension RTMPConnection {
    func play2(_ request: RTMPSession.Play2Request) {
        let streamID = request.streamID
        switch request.transition {
        case .reset:
            startPlay(request.play(reset: true))
        case .append:
            startPlay(request.play(reset: false))
        case .appendAndWait:
            // Builds the playlist without starting it; `resume` (or a play) starts it.
            if let current = playbacks[streamID], !current.isFinished {
                startPlay(request.play(reset: false))
            } else {
                queue(request.play(reset: false))
            }
        case .resume:
            // A reconnecting player asks to go on where its last connection ended, with the
            // playlist it rebuilt by appendAndWait still to come.
            if let replaced = playbacks.removeValue(forKey: streamID) { streamEvent(.stop, name: replaced.name, streamID: streamID) }
            switches[streamID] = nil
            requestOpen(request.streamName, for: .play(request.play(reset: false), after: nil))
        case .stop:
            playlists[streamID] = nil
            switches[streamID] = nil
            if let playback = playbacks.removeValue(forKey: streamID) {
                logPlay(playback, "stopped by the client")
                streamEvent(.stop, name: playback.name, streamID: streamID)
                VODPlayback.writeStopped(streamID: streamID, name: playback.name, clientID: session.clientID,
                                         amf3: session.isAMF3, encoder: &encoder, into: &output)
            }
        case .swap:
            swap(request)
        case .switch:
            guard let current = playbacks[streamID], !current.isFinished else {
                // Nothing to switch from: play it.
                startPlay(request.play(reset: true))
                return
            }
            requestOpen(request.streamName, for: .switchTo(request))
        }
    }

    /// Adds to a stream's playlist without starting anything.
    private func queue(_ request: RTMPSession.PlayRequest) {
        guard playlists[request.streamID, default: []].count < Self.maximumPlaylistItems else {
            playFailed(streamID: request.streamID, name: request.name,
                       "Failed to queue \(request.name): the playlist holds \(Self.maximumPlaylistItems) items already.")
            return
        }
        playlists[request.streamID, default: []].append(request)
    }

    /// swap: `streamName` replaces `oldStreamName` in the playlist; when the old one is the
    /// item playing, the new one plays when that item ends, before the rest of the list.
    private func swap(_ request: RTMPSession.Play2Request) {
        let streamID = request.streamID
        let old = request.oldStreamName
        if let index = playlists[streamID]?.firstIndex(where: { $0.name == old }) {
            playlists[streamID]?[index] = request.play(reset: false)
        } else if let current = playbacks[streamID], !current.isFinished, old == nil || old == current.name {
            playlists[streamID, default: []].insert(request.play(reset: false), at: 0)
            current.continuesInPlaylist = true
        } else {
            playFailed(streamID: streamID, name: request.streamName,
                       "Swap failed: \(old ?? "the old stream") is neither playing nor in the playlist.")
            return
        }
        encoder.write(session.onStatus(streamID: streamID, FMS.playStatus(
            "NetStream.Play.Transition", "Transitioning from \(old ?? "") to \(request.streamName).",
            name: request.streamName, clientID: session.clientID)), into: &output)
    }

    /// The new rendition is open: find its first keyframe after what has been sent (or at
    /// or after a fast switch's offset), and switch there. Until then the old rendition
    /// plays on; if anything fails, it plays on unbroken.
    func prepareSwitch(_ request: RTMPSession.Play2Request, opened result: Result<ReaderBox, MediaResolver.Failure>, now: UInt64) {
        let streamID = request.streamID
        let opened: ReaderBox
        switch result {
        case .failure(let failure):
            streamNotFound(request.play(reset: false), failure)
            return
        case .success(let box):
            opened = box
        }
        guard let current = playbacks[streamID], !current.isFinished else {
            // The old rendition ended while the new one opened: play the new one.
            begin(request.play(reset: true), after: nil, opened: result, now: now)
            return
        }
        let sent = current.lastTimestamp
        var earliest = sent == .max ? sent : sent + 1
        if let offset = request.offset {
            guard offset >= sent else {
                playFailed(streamID: streamID, name: request.streamName,
                           "Switch to \(request.streamName) failed: offset \(offset) ms is behind what was sent (\(sent) ms).")
                return
            }
            earliest = max(earliest, offset)
        }
        guard let point = opened.reader.keyframe(atOrAfter: earliest) else {
            playFailed(streamID: streamID, name: request.streamName,
                       "Switch to \(request.streamName) failed: it has no keyframe after \(earliest) ms.")
            return
        }
        let next = VODPlayback(streamID: streamID, name: request.streamName, reader: opened.reader, clientID: session.clientID,
                               amf3: request.amf3, bufferLength: nil, length: nil)
        do {
            try next.prepareSwitch(from: current, at: point)
        } catch {
            playFailed(streamID: streamID, name: request.streamName, "Switch to \(request.streamName) failed: \(error)")
            return
        }
        current.switchPoint = point
        switches[streamID] = next
        encoder.write(session.onStatus(streamID: streamID, FMS.playStatus(
            "NetStream.Play.Transition", "Transitioning from \(current.name) to \(request.streamName).",
            name: request.streamName, clientID: session.clientID)), into: &output)
        RTMPMetrics.switches.increment()
        logger.info("switch", metadata: ["from": "\(current.name)", "to": "\(request.streamName)", "object": "\(opened.key)",
                                         "sent": "\(sent)", "at": "\(point)"])
    }

    /// The old rendition has sent everything before the switch point (or a seek came):
    /// the new one takes over.
    func completeSwitch(_ streamID: UInt32, now: UInt64) {
        guard let next = switches.removeValue(forKey: streamID), let current = playbacks[streamID] else {
            playbacks[streamID]?.switchPoint = nil  // nothing to switch to: play on
            return
        }
        next.takeOver(from: current, at: current.switchPoint ?? next.lastTimestamp, encoder: &encoder, into: &output)
        playbacks[streamID] = next
    }

    func playFailed(streamID: UInt32, name: String, _ description: String) {
        logger.info("play2 failed", metadata: ["stream": "\(name)", "reason": "\(description)"])
        encoder.write(session.onStatus(streamID: streamID, FMS.playStatus(
            "NetStream.Play.Failed", level: "error", description, name: name, clientID: session.clientID)), into: &output)
    }
}
