import NIOCore
import SluiceMedia

/// One stream playing one media file: the statuses Flash players expect, the tags, and
/// the pacing.
///
/// Pacing as FMS meters video on demand: tags go out up to the client's buffer length
/// plus a margin ahead of the playhead, in batches, so a player never starves and the
/// server never holds more than a buffer per client. A client that asks for a huge buffer
/// (rtmpdump asks for ten hours) is therefore served as fast as its socket takes.
public final class VODPlayback {
    public enum PumpResult: Equatable {
        /// The byte budget is used up; more can be sent now.
        case budgetUsed
        /// Nothing is due before this monotonic time (milliseconds).
        case waitUntil(UInt64)
        /// Paused: nothing until unpause.
        case paused
        /// The end was reached and the closing statuses were written.
        case finished
        /// The next tag is at or past `switchPoint` (or the media ended before it): the
        /// rendition switched to takes over from here.
        case reachedSwitchPoint
    }

    public let streamID: UInt32
    public let name: String
    public let reader: any MediaReader
    private let clientID: String
    private let amf3: Bool

    /// Extra lead beyond the client's buffer, so the buffer refills before it runs dry.
    public static let margin: UInt64 = 1000
    /// Send at least this much media per wake-up: fewer timers, larger writes.
    public static let batchQuantum: UInt64 = 250
    /// Flash Player's default NetStream.bufferTime is 0.1 s; assume 1 s until told.
    public static let defaultBufferLength: UInt32 = 1000

    public private(set) var bufferLength: UInt32
    private var receiveAudio = true
    private var receiveVideo = true
    private var videoNeedsKeyframe = false

    /// The playhead: media time `anchorTimestamp` was at monotonic `anchorClock`.
    private var anchorTimestamp: UInt64 = 0
    private var anchorClock: UInt64 = 0
    public private(set) var isPaused = false
    public private(set) var isFinished = false
    private var pending: MediaTag?
    /// Playback ends after this media time (from `play`'s len).
    private var endTimestamp: UInt64?
    private let requestedLength: UInt32?
    public private(set) var bytesSent: UInt64 = 0
    /// When the play started (the connection's clock), and the object it reads: for the
    /// line each play logs when it ends.
    public var startedAt: UInt64 = 0
    public var objectKey = ""
    public private(set) var lastTimestamp: UInt32 = 0
    /// Added to every timestamp sent: a playlist's later items continue the timeline of
    /// the items before them, as FMS plays `play(name, start, len, false)` lists.
    public var timelineOffset: UInt32 = 0
    /// Another playlist item follows: the end is a Play.Switch, not Complete and Stop.
    public var continuesInPlaylist = false
    /// A play2 switch is pending: tags from this media time on belong to the new rendition.
    public var switchPoint: UInt32?
    /// The last audio timestamp sent, on this item's timeline.
    public private(set) var lastAudioTimestamp: UInt32?
    /// After a switch, audio up to here was sent by the rendition before: none is sent twice.
    private var audioSentThrough: UInt32?

    public init(streamID: UInt32, name: String, reader: any MediaReader, clientID: String, amf3: Bool,
                bufferLength: UInt32?, length: UInt32?) {
        self.streamID = streamID
        self.name = name
        self.reader = reader
        self.clientID = clientID
        self.amf3 = amf3
        self.bufferLength = bufferLength ?? Self.defaultBufferLength
        self.requestedLength = length
    }

    // MARK: Messages

    private func status(_ code: String, _ description: String, level: String = "status") -> RTMPMessage {
        RTMPCommand.onStatus(FMS.playStatus(code, level: level, description, name: name, clientID: clientID), streamID: streamID, amf3: amf3)
    }

    private func data(_ values: [AMFValue], timestamp: UInt32? = nil) -> RTMPMessage {
        RTMPCommand.dataMessage(values, streamID: streamID, timestamp: timestamp ?? timelineOffset)
    }

    private func control(_ event: UserControlEvent) -> RTMPMessage {
        ProtocolControl.userControl(event)
    }

    private func write(_ tag: MediaTag, encoder: inout ChunkEncoder, into out: inout ByteBuffer) {
        let chunkStream: UInt32
        let type: UInt8
        switch tag.type {
        case .audio:
            chunkStream = ChunkStreamID.audio
            type = RTMPMessageType.audio.rawValue
        case .video:
            chunkStream = ChunkStreamID.video
            type = RTMPMessageType.video.rawValue
        case .script:
            chunkStream = ChunkStreamID.streamCommand
            type = RTMPMessageType.dataAMF0.rawValue
        }
        encoder.write(chunkStreamID: chunkStream, typeID: type, streamID: streamID, timestamp: tag.timestamp &+ timelineOffset, payload: tag.payload, into: &out)
        bytesSent += UInt64(tag.payload.count)
        lastTimestamp = tag.timestamp
        if tag.type == .audio { lastAudioTimestamp = tag.timestamp }
    }

    private func writeSequenceHeaders(at timestamp: UInt32, encoder: inout ChunkEncoder, into out: inout ByteBuffer) {
        for var header in reader.sequenceHeaders {
            if header.type == .audio && !receiveAudio || header.type == .video && !receiveVideo { continue }
            header.timestamp = timestamp
            write(header, encoder: &encoder, into: &out)  // write adds the timeline offset
        }
    }

    // MARK: Control

    /// Starts playing from `start` milliseconds (nil: from the beginning). Writes, in
    /// the order Flash players expect: StreamIsRecorded, StreamBegin, Play.Reset,
    /// Play.Start, |RtmpSampleAccess, onMetaData, then the sequence headers.
    ///
    /// A later playlist item passes `now` plus what the player still holds of the items
    /// before it, so the lead stays one buffer across the switch.
    public func begin(start: UInt32?, reset: Bool, now: UInt64, encoder: inout ChunkEncoder, into out: inout ByteBuffer) throws(MediaFormatError) {
        let position = try restart(at: start ?? 0, now: now, encoder: &encoder)
        encoder.write(control(.streamIsRecorded(streamID: streamID)), into: &out)
        encoder.write(control(.streamBegin(streamID: streamID)), into: &out)
        if reset {
            encoder.write(status("NetStream.Play.Reset", "Playing and resetting \(name)."), into: &out)
        }
        encoder.write(status("NetStream.Play.Start", "Started playing \(name)."), into: &out)
        encoder.write(data([.string("|RtmpSampleAccess"), .boolean(false), .boolean(false)]), into: &out)
        encoder.write(data([.string("onMetaData"), .ecmaArray(reader.metadataForPlayers)]), into: &out)
        writeSequenceHeaders(at: position, encoder: &encoder, into: &out)
    }

    /// Jumps to the last keyframe at or before `milliseconds`: Seek.Notify, Play.Start,
    /// then the sequence headers again, since a decoder may have been reset.
    public func seek(to milliseconds: UInt32, now: UInt64, encoder: inout ChunkEncoder, into out: inout ByteBuffer) throws(MediaFormatError) {
        let position = try restart(at: milliseconds, now: now, encoder: &encoder)
        encoder.write(control(.streamEOF(streamID: streamID)), into: &out)
        encoder.write(control(.streamIsRecorded(streamID: streamID)), into: &out)
        encoder.write(control(.streamBegin(streamID: streamID)), into: &out)
        encoder.write(status("NetStream.Seek.Notify", "Seeking \(position) (stream ID: \(streamID))."), into: &out)
        encoder.write(status("NetStream.Play.Start", "Started playing \(name)."), into: &out)
        encoder.write(data([.string("|RtmpSampleAccess"), .boolean(false), .boolean(false)]), into: &out)
        writeSequenceHeaders(at: position, encoder: &encoder, into: &out)
    }

    /// Pauses or resumes. Resuming keeps the position: the tags the player already holds
    /// are not sent again, and the playhead restarts from where the player paused.
    public func pause(_ paused: Bool, at milliseconds: UInt32, now: UInt64, encoder: inout ChunkEncoder, into out: inout ByteBuffer) {
        if paused {
            isPaused = true
            encoder.write(control(.streamEOF(streamID: streamID)), into: &out)
            encoder.write(status("NetStream.Pause.Notify", "Pausing \(name)."), into: &out)
        } else {
            isPaused = false
            resetClock(to: milliseconds, now: now)
            encoder.write(control(.streamBegin(streamID: streamID)), into: &out)
            encoder.write(status("NetStream.Unpause.Notify", "Unpausing \(name)."), into: &out)
        }
    }

    /// Moves the reader to the keyframe for `target` and restarts the playhead, the end
    /// (len counts from the requested time, not from the keyframe before it) and the
    /// chunk headers (timestamps may go back). Returns the keyframe's time.
    private func restart(at target: UInt32, now: UInt64, encoder: inout ChunkEncoder) throws(MediaFormatError) -> UInt32 {
        let position = try reader.seek(to: target)
        pending = nil
        isFinished = false
        videoNeedsKeyframe = false
        if let requestedLength {
            endTimestamp = UInt64(max(position, target)) + UInt64(requestedLength)
        }
        resetClock(to: position, now: now)
        encoder.resetHeaders()
        return position
    }

    /// Prepares this rendition to take over from `old` at `point`, the time of one of its
    /// keyframes after what `old` has sent: the reader moves there. Nothing is written yet.
    public func prepareSwitch(from old: VODPlayback, at point: UInt32) throws(MediaFormatError) {
        let position = try reader.seek(to: point)
        pending = nil
        isFinished = false
        videoNeedsKeyframe = false
        lastTimestamp = position
        endTimestamp = old.endTimestamp
        timelineOffset = old.timelineOffset
        bufferLength = old.bufferLength
        receiveAudio = old.receiveAudio
        receiveVideo = old.receiveVideo
    }

    /// Takes over from `old`, which has sent everything before `point`: the playhead goes
    /// on as it was, and the player gets this rendition's onMetaData, its sequence headers
    /// and, with its first frame, onPlayStatus NetStream.Play.TransitionComplete.
    public func takeOver(from old: VODPlayback, at point: UInt32, encoder: inout ChunkEncoder, into out: inout ByteBuffer) {
        anchorTimestamp = old.anchorTimestamp
        anchorClock = old.anchorClock
        isPaused = old.isPaused
        continuesInPlaylist = old.continuesInPlaylist
        audioSentThrough = old.lastAudioTimestamp
        encoder.write(data([.string("onMetaData"), .ecmaArray(reader.metadataForPlayers)], timestamp: timelineOffset &+ point), into: &out)
        writeSequenceHeaders(at: point, encoder: &encoder, into: &out)
        let complete: AMFObject = ["code": .string("NetStream.Play.TransitionComplete"), "level": .string("status"),
                                   "details": .string(name), "description": .string("Transitioned to \(name).")]
        encoder.write(data([.string("onPlayStatus"), .object(complete)], timestamp: timelineOffset &+ point), into: &out)
    }

    public func setBufferLength(_ milliseconds: UInt32) {
        bufferLength = milliseconds
    }

    public func receive(audio: Bool?, video: Bool?) {
        if let audio { receiveAudio = audio }
        if let video {
            // Video can only resume at a keyframe, or the decoder shows garbage.
            if video && !receiveVideo { videoNeedsKeyframe = true }
            receiveVideo = video
        }
    }

    private func resetClock(to timestamp: UInt32, now: UInt64) {
        anchorTimestamp = UInt64(timestamp)
        anchorClock = now
    }

    /// The media time up to which tags may be sent now. The anchor clock may lie in the
    /// future (a playlist item queued behind what the player still holds).
    private func sendHorizon(now: UInt64) -> Int64 {
        let lead = Int64(bufferLength) + Int64(Self.margin)
        let (horizon, overflow) = (Int64(anchorTimestamp) + Int64(now) - Int64(anchorClock)).addingReportingOverflow(lead)
        return overflow ? .max : horizon
    }

    /// How much media, in milliseconds, has been sent beyond the playhead.
    public func leadAhead(now: UInt64) -> UInt64 {
        let playhead = Int64(anchorTimestamp) + Int64(now) - Int64(anchorClock)
        return UInt64(max(0, Int64(itemEnd) - playhead))
    }

    /// Where this item ends on its own timeline: the requested end, else the later of
    /// its last tag and its duration.
    private var itemEnd: UInt32 {
        let durationMilliseconds = reader.duration.isFinite && reader.duration > 0 ? UInt32(clamping: Int64(reader.duration * 1000)) : 0
        return endTimestamp.map { UInt32(clamping: $0) } ?? max(lastTimestamp, durationMilliseconds)
    }

    /// Where the next playlist item starts on the player's timeline.
    public var timelineEnd: UInt32 { timelineOffset &+ max(lastTimestamp, itemEnd) }

    /// Writes due tags until `budget` bytes are written, nothing more is due, or the end.
    public func pump(now: UInt64, budget: Int, encoder: inout ChunkEncoder, into out: inout ByteBuffer) throws(MediaFormatError) -> PumpResult {
        if isFinished { return .finished }
        if isPaused { return .paused }
        let horizon = sendHorizon(now: now)
        let startSize = out.writerIndex
        while out.writerIndex - startSize < budget {
            let next: MediaTag?
            if let pending { next = pending } else { next = try reader.nextTag() }
            guard let tag = next else {
                if switchPoint != nil { return .reachedSwitchPoint }
                finish(encoder: &encoder, into: &out)
                return .finished
            }
            pending = nil
            if let endTimestamp, UInt64(tag.timestamp) > endTimestamp {
                finish(encoder: &encoder, into: &out)
                return .finished
            }
            if let switchPoint, tag.timestamp >= switchPoint {
                pending = tag
                return .reachedSwitchPoint
            }
            if Int64(tag.timestamp) > horizon {
                pending = tag
                // The clock time at which this tag falls inside the lead, plus a batch.
                let due = Int64(anchorClock) + Int64(tag.timestamp) - Int64(anchorTimestamp) - (Int64(bufferLength) + Int64(Self.margin))
                let wake = UInt64(max(due, 0)) + Self.batchQuantum
                return .waitUntil(max(wake, now + 1))
            }
            switch tag.type {
            case .audio where !receiveAudio:
                continue
            case .audio where audioSentThrough.map { tag.timestamp <= $0 } ?? false:
                continue
            case .video where !receiveVideo:
                continue
            case .video where videoNeedsKeyframe:
                guard tag.isKeyframe else { continue }
                videoNeedsKeyframe = false
            default:
                break
            }
            write(tag, encoder: &encoder, into: &out)
        }
        return .budgetUsed
    }

    /// The end: onPlayStatus Play.Complete, StreamEOF, then onStatus Play.Stop, on which
    /// librtmp and FFmpeg close. Within a playlist: onPlayStatus Play.Switch only.
    private func finish(encoder: inout ChunkEncoder, into out: inout ByteBuffer) {
        isFinished = true
        // Play.Complete happens where the clip ends: at its duration, which is after the last
        // frame's timestamp by one frame. rtmpdump judges a download complete by comparing
        // the last timestamp it saw with the duration.
        let end = timelineEnd
        if continuesInPlaylist {
            let switching: AMFObject = ["code": .string("NetStream.Play.Switch"), "level": .string("status")]
            encoder.write(data([.string("onPlayStatus"), .object(switching)], timestamp: end), into: &out)
            return
        }
        let complete: AMFObject = [
            "code": .string("NetStream.Play.Complete"), "level": .string("status"),
            "duration": .number(reader.duration), "bytes": .number(Double(bytesSent)),
        ]
        encoder.write(data([.string("onPlayStatus"), .object(complete)], timestamp: end), into: &out)
        writeStopped(streamID: streamID, name: name, amf3: amf3, encoder: &encoder, into: &out)
    }

    /// StreamEOF then Play.Stop: what ends a stream for a player.
    public static func writeStopped(streamID: UInt32, name: String, clientID: String, amf3: Bool, encoder: inout ChunkEncoder, into out: inout ByteBuffer) {
        encoder.write(ProtocolControl.userControl(.streamEOF(streamID: streamID)), into: &out)
        let info = FMS.playStatus("NetStream.Play.Stop", "Stopped playing \(name).", name: name, clientID: clientID)
        encoder.write(RTMPCommand.onStatus(info, streamID: streamID, amf3: amf3), into: &out)
    }

    private func writeStopped(streamID: UInt32, name: String, amf3: Bool, encoder: inout ChunkEncoder, into out: inout ByteBuffer) {
        Self.writeStopped(streamID: streamID, name: name, clientID: clientID, amf3: amf3, encoder: &encoder, into: &out)
    }
}
