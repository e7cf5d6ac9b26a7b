import NIOCore
import SluiceMedia
import SluiceRTMP

/// The RTMP server's parsers: the handshake, the chunk stream, AMF, and the session fed
/// whole messages (with the playback it starts).
enum RTMPTargets {
    static let handshake = FuzzTarget(
        name: "handshake", summary: "ServerHandshake fed C0 C1 C2 in pieces, then the chunk decoder",
        seeds: RTMPSeeds.handshakes
    ) { bytes in
        var input = FuzzInput(bytes)
        let sizes = input.take(4)
        var handshake = ServerHandshake(randomBytes: { [UInt8](repeating: 0x5A, count: $0) }, epochMilliseconds: { 1234 })
        var decoder = ChunkDecoder()
        var done = false
        for piece in pieces(input.rest, sizes: sizes) {
            if done {
                decoder.feed(ByteBuffer(bytes: piece))
                continue
            }
            do {
                switch try handshake.feed(ByteBuffer(bytes: piece)) {
                case .needMoreData: break
                case .send(let reply): require(reply.count == 1 + 2 * HandshakeDigest.packetSize, "S0S1S2 is \(reply.count) bytes")
                case .complete(let leftover):
                    done = true
                    decoder.feed(leftover)
                }
            } catch {
                return
            }
        }
        drain(&decoder)
    }

    static let chunks = FuzzTarget(
        name: "chunks", summary: "ChunkDecoder after a Set Chunk Size of the input's choosing, fed in pieces",
        seeds: RTMPSeeds.chunkStreams
    ) { bytes in
        var input = FuzzInput(bytes)
        let chunkSize = input.uint32()
        let sizes = input.take(3)
        var decoder = ChunkDecoder()
        // A Set Chunk Size of any 32-bit value, as a peer may send first.
        var encoder = ChunkEncoder()
        var prefix = ByteBuffer()
        encoder.write(chunkStreamID: 2, typeID: 1, streamID: 0, timestamp: 0,
                      payload: [UInt8(chunkSize >> 24), UInt8(chunkSize >> 16 & 0xFF), UInt8(chunkSize >> 8 & 0xFF), UInt8(chunkSize & 0xFF)],
                      into: &prefix)
        decoder.feed(prefix)
        do {
            while try decoder.nextMessage() != nil {}
        } catch {
            return  // the size was refused: the connection would close
        }
        for piece in pieces(input.rest, sizes: sizes) {
            decoder.feed(ByteBuffer(bytes: piece))
            guard drain(&decoder) else { return }
        }
    }

    /// Decodes every complete message; false once the decoder refused the stream.
    @discardableResult
    static func drain(_ decoder: inout ChunkDecoder) -> Bool {
        do {
            while let message = try decoder.nextMessage() {
                require(message.payload.readableBytes <= decoder.limits.maximumMessageSize, "message over the limit")
                require(decoder.chunkSize >= 1 && decoder.chunkSize <= decoder.limits.maximumChunkSize, "chunk size \(decoder.chunkSize)")
            }
            require(decoder.bufferedBytes <= decoder.limits.maximumBufferedBytes + decoder.limits.maximumChunkSize + 18,
                    "\(decoder.bufferedBytes) bytes held")
            return true
        } catch {
            return false
        }
    }

    static let amf0 = FuzzTarget(name: "amf0", summary: "AMF0 values (commands, FLV script data), decoded and encoded again",
                                 seeds: RTMPSeeds.amf0Values) { bytes in
        guard let values = try? AMF0.decodeAll(bytes) else { return }
        let again = AMF0.encode(values)
        _ = try? AMF0.decodeAll(again)
    }

    static let amf3 = FuzzTarget(name: "amf3", summary: "AMF3 values, decoded and encoded again",
                                 seeds: RTMPSeeds.amf3Values) { bytes in
        guard let value = try? AMF3.decode(bytes) else { return }
        _ = try? AMF3.decode(AMF3.encode(value))
    }

    static let session = FuzzTarget(
        name: "rtmp-session", summary: "RTMPSession fed whole messages, with the playbacks, seeks and pauses they start",
        seeds: RTMPSeeds.sessions
    ) { bytes in
        var harness = SessionHarness()
        var input = FuzzInput(bytes)
        while !input.isEmpty {
            let kind = input.byte()
            let streamID = UInt32(input.byte() % 4)
            let length = Int(input.uint16() % 4096)
            let payload = input.take(length)
            let types: [UInt8] = [20, 17, 4, 1, 5, 3, 18, 6]
            let message = RTMPMessage(typeID: types[Int(kind % 8)], streamID: streamID, timestamp: 0,
                                      payload: ByteBuffer(bytes: payload), chunkStreamID: 3)
            guard harness.handle(message, advance: UInt64(kind >> 3) * 250) else { return }
        }
    }
}

/// What `RTMPConnectionHandler` does with a session's actions, without a channel: open
/// media from a bucket folder, start, seek, pause and pump playbacks on a fake clock.
struct SessionHarness {
    var session = RTMPSession(router: SingleBucketRouter(bucket: "media"), clientID: "fuzz")
    var encoder = ChunkEncoder()
    var output = ByteBuffer()
    var playbacks: [UInt32: VODPlayback] = [:]
    var now: UInt64 = 1_000_000
    let resolver = MediaResolver(library: FolderMediaLibrary(root: SampleMedia.bucketRoot))

    /// False once the connection would close.
    mutating func handle(_ message: RTMPMessage, advance: UInt64) -> Bool {
        now += advance
        let actions: [RTMPSession.Action]
        do {
            actions = try session.handle(message)
        } catch {
            return false
        }
        for action in actions {
            switch action {
            case .send(let reply): encoder.write(reply, into: &output)
            case .setOutgoingChunkSize(let size): encoder.setChunkSize(size)
            case .close: return false
            case .play(let request):
                guard let route = session.route, case .success(let opened)? = resolver.open(request.name, route: route) else { continue }
                let playback = VODPlayback(streamID: request.streamID, name: request.name, reader: opened.reader, clientID: "fuzz",
                                           amf3: request.amf3, bufferLength: nil, length: request.length)
                guard (try? playback.begin(start: request.start, reset: request.reset, now: now, encoder: &encoder, into: &output)) != nil else { continue }
                playbacks[request.streamID] = playback
            case .seek(let streamID, let milliseconds):
                if let playback = playbacks[streamID], (try? playback.seek(to: milliseconds, now: now, encoder: &encoder, into: &output)) == nil {
                    playbacks[streamID] = nil
                }
            case .pause(let streamID, let paused, let milliseconds):
                playbacks[streamID]?.pause(paused, at: milliseconds, now: now, encoder: &encoder, into: &output)
            case .stop(let streamID): playbacks[streamID] = nil
            case .receive(let streamID, let audio, let video): playbacks[streamID]?.receive(audio: audio, video: video)
            case .setBufferLength(let streamID, let milliseconds): playbacks[streamID]?.setBufferLength(milliseconds)
            case .streamLength(let transactionID, let name):
                if let route = session.route, case .success(let opened)? = resolver.open(name, route: route) {
                    encoder.write(RTMPCommand(name: "_result", transactionID: transactionID, arguments: [.number(opened.reader.duration)])
                        .message(streamID: 0, chunkStreamID: 3), into: &output)
                }
            }
        }
        pump()
        output.clear()
        return true
    }

    /// A few rounds of pumping, as the handler's drive loop would.
    mutating func pump() {
        for (streamID, playback) in playbacks {
            for _ in 0..<4 {
                guard let result = try? playback.pump(now: now, budget: 16 * 1024, encoder: &encoder, into: &output) else {
                    playbacks[streamID] = nil
                    break
                }
                if result == .finished { playbacks[streamID] = nil }
                if result != .budgetUsed { break }
            }
        }
    }
}
