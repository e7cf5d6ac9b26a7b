import NIOCore
import SluiceMedia

/// The streams of a connection: what the session asks for (play, seek, pause, stop,
/// playlists), and the pacing that sends their media.
extension RTMPConnection {
    func perform(_ actions: [RTMPSession.Action], now: UInt64) {
        for action in actions {
            switch action {
            case .send(let message):
                encoder.write(message, into: &output)
            case .setOutgoingChunkSize(let size):
                // Sent only on a successful connect: from now on log lines name the app.
                encoder.setChunkSize(size)
                if let request = session.connectRequest {
                    logger[metadataKey: "app"] = "\(request.app)"
                    logger.info("connected", metadata: ["tcUrl": "\(request.tcUrl ?? "")", "flashVer": "\(request.flashVersion ?? "")"])
                    streamEvent(.connect)
                }
            case .close(let reason):
                if let rejection = session.rejection { RTMPMetrics.refused(code: rejection.code) }
                closeAfterFlush(reason: reason)
            case .play(let request):
                startPlay(request)
            case .play2(let request):
                play2(request)
            case .seek(let streamID, let milliseconds):
                seek(streamID, to: milliseconds, now: now)
            case .pause(let streamID, let paused, let milliseconds):
                guard let playback = playbacks[streamID] else { continue }
                playback.pause(paused, at: milliseconds, now: now, encoder: &encoder, into: &output)
                streamEvent(paused ? .pause : .unpause, name: playback.name, streamID: streamID)
            case .stop(let streamID):
                playlists[streamID] = nil
                switches[streamID] = nil
                if !session.hasStream(streamID) { bufferLengths[streamID] = nil }  // deleted
                if let playback = playbacks.removeValue(forKey: streamID) {
                    logPlay(playback, "stopped by the client")
                    streamEvent(.stop, name: playback.name, streamID: streamID)
                }
            case .receive(let streamID, let audio, let video):
                playbacks[streamID]?.receive(audio: audio, video: video)
                switches[streamID]?.receive(audio: audio, video: video)
            case .setBufferLength(let streamID, let milliseconds):
                bufferLengths[streamID] = milliseconds
                playbacks[streamID]?.setBufferLength(milliseconds)
                switches[streamID]?.setBufferLength(milliseconds)
            case .streamLength(let transactionID, let name):
                requestOpen(name, for: .streamLength(transactionID: transactionID))
            case .checkBandwidth(let librtmpStyle):
                startBandwidthCheck(librtmpStyle ? .librtmp : .fms, now: now)
            case .callAnswered(let transactionID):
                answerBandwidthCheck(transactionID, now: now)
            }
        }
    }

    private func seek(_ streamID: UInt32, to milliseconds: UInt32, now: UInt64) {
        // A seek flushes the player's buffer: a pending switch happens here and now.
        completeSwitch(streamID, now: now)
        guard let playback = playbacks[streamID] else {
            encoder.write(session.onStatus(streamID: streamID, FMS.status(
                "NetStream.Seek.Failed", level: "error", description: "Seek failed: nothing is playing.")), into: &output)
            return
        }
        do {
            try playback.seek(to: milliseconds, now: now, encoder: &encoder, into: &output)
            streamEvent(.seek, name: playback.name, streamID: streamID)
            logger.debug("seek", metadata: ["stream": "\(playback.name)", "to": "\(milliseconds)"])
        } catch {
            stopPlayback(streamID, reason: "read error while seeking: \(error)")
        }
    }

    func stopPlayback(_ streamID: UInt32, reason: String) {
        guard let playback = playbacks.removeValue(forKey: streamID) else { return }
        logPlay(playback, "failed (NetStream.Play.Failed): \(reason)", level: .warning)
        streamEvent(.stop, name: playback.name, streamID: streamID, status: "NetStream.Play.Failed")
        encoder.write(session.onStatus(streamID: streamID, FMS.status(
            "NetStream.Play.Failed", level: "error", description: "Playback failed: \(reason)")), into: &output)
    }

    func startPlay(_ request: RTMPSession.PlayRequest) {
        if !request.reset, let current = playbacks[request.streamID], !current.isFinished {
            // reset false appends to the stream's playlist.
            guard playlists[request.streamID, default: []].count < Self.maximumPlaylistItems else {
                encoder.write(session.onStatus(streamID: request.streamID, FMS.status(
                    "NetStream.Play.Failed", level: "error",
                    description: "Failed to queue \(request.name): the playlist holds \(Self.maximumPlaylistItems) items already.")), into: &output)
                return
            }
            playlists[request.streamID, default: []].append(request)
            current.continuesInPlaylist = true
            logger.info("play queued in playlist", metadata: ["stream": "\(request.name)"])
            return
        }
        if request.reset { playlists[request.streamID] = nil }
        if let replaced = playbacks.removeValue(forKey: request.streamID) {
            streamEvent(.stop, name: replaced.name, streamID: request.streamID)
        }
        switches[request.streamID] = nil
        requestOpen(request.name, for: .play(request, after: nil))
    }

    /// Starts the next playlist item of a stream whose item just ended, if there is one.
    func playNextInPlaylist(_ streamID: UInt32, after previous: VODPlayback) -> Bool {
        guard var queue = playlists[streamID], !queue.isEmpty else { return false }
        let next = queue.removeFirst()
        playlists[streamID] = queue.isEmpty ? nil : queue
        requestOpen(next.name, for: .play(next, after: previous))
        return true
    }

    /// Begins playback of opened media; a playlist item continues `previous`'s timeline,
    /// starting once the player has used up what it holds of it.
    func begin(_ request: RTMPSession.PlayRequest, after previous: VODPlayback?,
               opened result: Result<ReaderBox, MediaResolver.Failure>, now: UInt64) {
        let opened: ReaderBox
        switch result {
        case .failure(let failure):
            streamNotFound(request, failure)
            if let previous, !playNextInPlaylist(request.streamID, after: previous) {
                // The playlist ends on a missing item: say so, or the player waits forever.
                VODPlayback.writeStopped(streamID: request.streamID, name: request.name, clientID: session.clientID,
                                         amf3: session.isAMF3, encoder: &encoder, into: &output)
            }
            return
        case .success(let box):
            opened = box
        }
        let playback = VODPlayback(
            streamID: request.streamID, name: request.name, reader: opened.reader, clientID: session.clientID,
            amf3: request.amf3, bufferLength: bufferLengths[request.streamID], length: request.length)
        playback.continuesInPlaylist = !(playlists[request.streamID]?.isEmpty ?? true)
        var start = now
        if let previous {
            playback.timelineOffset = previous.timelineEnd
            start += previous.leadAhead(now: now)
        }
        do {
            try playback.begin(start: request.start, reset: request.reset, now: start, encoder: &encoder, into: &output)
        } catch {
            encoder.write(session.onStatus(streamID: request.streamID, FMS.status(
                "NetStream.Play.Failed", level: "error", description: "Failed to play \(request.name): \(error)")), into: &output)
            return
        }
        playbacks[request.streamID] = playback
        playback.startedAt = now
        playback.objectKey = opened.key
        streamEvent(.play, name: request.name, streamID: request.streamID)
        logPlay(playback, "playing from \(request.start.map { "\($0) ms" } ?? "the beginning"), buffer \(playback.bufferLength) ms",
                totals: false)
    }

    func streamNotFound(_ request: RTMPSession.PlayRequest, _ failure: MediaResolver.Failure) {
        streamEvent(.play, name: request.name, streamID: request.streamID, status: "NetStream.Play.StreamNotFound")
        let description: String
        switch failure {
        case .notFound:
            description = "Failed to play \(request.name); stream not found."
            logRefusedPlay(request.name, "not found")
        case .privateObject(let key):
            // The player is told what it would be told of a missing stream.
            description = "Failed to play \(request.name); stream not found."
            logRefusedPlay(request.name, "private (\(key) is not public-read)")
        case .unplayable(let key, let reason):
            description = "Failed to play \(request.name); \(reason)."
            logRefusedPlay(request.name, "cannot read \(key): \(reason)", level: .warning)
        }
        encoder.write(session.onStatus(streamID: request.streamID, FMS.status(
            "NetStream.Play.StreamNotFound", level: "error", description: description,
            extra: [("details", .string(request.name)), ("clientid", .string(session.clientID))])), into: &output)
    }

    /// Writes what is due on every playing stream, up to `writeBatch` bytes each. True
    /// when more could be sent at once: the driver calls again while the peer takes it.
    /// Otherwise `nextWakeUp` says when something is next due.
    public func pump(now: UInt64) -> Bool {
        latestNow = max(latestNow, now)
        guard case .chunks = phase else { return false }
        // Every stream says again when it is next due.
        pacingWakeUp = .max
        var moreNow = false
        for (streamID, playback) in playbacks {
            let result: VODPlayback.PumpResult
            do {
                result = try playback.pump(now: now, budget: Self.writeBatch, encoder: &encoder, into: &output)
            } catch {
                stopPlayback(streamID, reason: "read error: \(error)")
                continue
            }
            switch result {
            case .budgetUsed:
                moreNow = true
            case .waitUntil(let time):
                pacingWakeUp = min(pacingWakeUp, time)
            case .finished:
                playbacks.removeValue(forKey: streamID)
                switches[streamID] = nil
                logPlay(playback, "complete")
                streamEvent(.stop, name: playback.name, streamID: streamID)
                _ = playNextInPlaylist(streamID, after: playback)
            case .reachedSwitchPoint:
                completeSwitch(streamID, now: now)
                moreNow = true
            case .paused:
                break
            }
        }
        return moreNow
    }
}

// MARK: Bandwidth checks

extension RTMPConnection {
    private func call(_ command: RTMPCommand) {
        encoder.write(command.message(streamID: 0, chunkStreamID: ChunkStreamID.connectionCommand, amf3: session.isAMF3), into: &output)
    }

    func startBandwidthCheck(_ style: BandwidthCheck.Style, now: UInt64) {
        guard bandwidthCheck == nil, bandwidthChecksRun < Self.maximumBandwidthChecks else {
            logger.debug("bandwidth check refused: one is running or \(Self.maximumBandwidthChecks) have run")
            return
        }
        bandwidthChecksRun += 1
        bandwidthCheck = BandwidthCheck(style: style, now: now, transactionIDs: &nextCallID, send: call)
    }

    func answerBandwidthCheck(_ transactionID: Double, now: UInt64) {
        guard var check = bandwidthCheck else { return }
        let result = check.answer(transactionID, now: now, transactionIDs: &nextCallID, send: call)
        bandwidthCheck = check
        if let result { finishBandwidthCheck(result) }
    }

    func finishBandwidthCheck(_ result: BandwidthCheck.Result) {
        guard let check = bandwidthCheck else { return }
        bandwidthCheck = nil
        call(check.doneCall(result))
        logger.info("bandwidth check", metadata: [
            "kbit/s": "\(Int(result.kilobitsPerSecond))", "latency": "\(result.latency) ms", "style": "\(check.style)",
        ])
    }
}
