import Logging
import NIOCore
import SluiceHTTP
import SluiceMedia
@_spi(Fuzzing) import SluiceRTMP

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

    /// The server's fixed RTMPE key pair and filler, so that a seed's C2 (made against
    /// them) still verifies when the fuzzer replays it.
    static func rtmpeServer() -> ServerHandshake {
        ServerHandshake(randomBytes: { [UInt8](repeating: 0x5A, count: $0) }, epochMilliseconds: { 1234 },
                        makeKeyPair: { DiffieHellman.weakKeyForFuzzing() })
    }

    /// A C1 whose digest is made valid, so that the input reaches what follows it: the
    /// client's public key (taken from the input as it is), the shared secret, the C2
    /// check, and RC4 over the rest.
    static let rtmpeHandshake = FuzzTarget(
        name: "rtmpe-handshake", summary: "ServerHandshake with an RTMPE C1 of the input's bytes (digest made valid), then C2 and RC4",
        seeds: RTMPSeeds.rtmpeHandshakes
    ) { bytes in
        var input = FuzzInput(bytes)
        let type: UInt8 = [6, 8, 9][Int(input.byte() % 3)]
        let scheme: HandshakeDigest.Scheme = input.byte() & 1 == 0 ? .one : .two
        let split = Int(input.uint16())
        var c1 = input.take(HandshakeDigest.packetSize)
        c1 += [UInt8](repeating: 0, count: HandshakeDigest.packetSize - c1.count)
        HandshakeDigest.sign(&c1, scheme: scheme, key: HandshakeDigest.playerKeyShort)
        var handshake = rtmpeServer()
        guard case .send(let reply)? = try? handshake.feed(ByteBuffer(bytes: [type] + c1)) else { return }
        require(reply.count == 1 + 2 * HandshakeDigest.packetSize, "S0S1S2 is \(reply.count) bytes")
        let rest = input.rest
        let cut = rest.isEmpty ? 0 : split % (rest.count + 1)
        var decoder = ChunkDecoder()
        var ciphers: RTMPE.Ciphers?
        for piece in [Array(rest[..<cut]), Array(rest[cut...])] {
            var buffer = ByteBuffer(bytes: piece)
            if ciphers != nil {
                buffer.withUnsafeMutableReadableBytes { ciphers!.incoming.apply($0) }
                decoder.feed(buffer)
                continue
            }
            guard case .complete(var leftover)? = try? handshake.feed(buffer) else { continue }
            ciphers = handshake.ciphers
            require(ciphers != nil, "an RTMPE handshake completed without keys")
            leftover.withUnsafeMutableReadableBytes { ciphers!.incoming.apply($0) }
            decoder.feed(leftover)
        }
        drain(&decoder)
    }

    /// RTMPT's request paths, then the body of a send as the tunnel hands it to its
    /// session's connection: handshake bytes, then chunks.
    static let rtmptRequest = FuzzTarget(
        name: "rtmpt-request", summary: "RTMPT request paths (/open, /send/ID/SEQ…), then a send's body into a connection",
        seeds: RTMPSeeds.tunnelRequests
    ) { bytes in
        let newline = bytes.firstIndex(of: 0x0A) ?? bytes.endIndex
        let path = String(decoding: bytes[..<newline], as: UTF8.self)
        guard let command = RTMPTunnel.Command(path: path) else { return }
        switch command {
        case .send(let id), .idle(let id), .close(let id):
            require(!id.isEmpty && !id.contains("/"), "a session id from \(path)")
        case .open, .ident:
            break
        }
        guard case .send = command, newline < bytes.endIndex else { return }
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        let connection = RTMPConnection(configuration: RTMPServerConfiguration(), router: SingleBucketRouter(bucket: "media"), clientID: "f",
                                        logger: logger, limitLog: LimitLog(logger: logger), peerAddress: "192.0.2.1", now: 1000,
                                        randomBytes: { [UInt8](repeating: 0x5A, count: $0) })
        connection.receive(ByteBuffer(bytes: bytes[(newline + 1)...]), now: 1000)
        _ = connection.takeOutput()
        _ = connection.takeMediaOpenRequests()
    }

    static let clientHandshake = FuzzTarget(
        name: "client-handshake", summary: "ClientHandshake (sluice probe) fed a server's S0 S1 S2 in pieces, then the chunk decoder",
        seeds: RTMPSeeds.serverHandshakes
    ) { bytes in
        var input = FuzzInput(bytes)
        let sizes = input.take(4)
        var handshake: ClientHandshake? = ClientHandshake(digest: input.byte() & 1 == 1, randomBytes: { [UInt8](repeating: 0x33, count: $0) })
        var decoder = ChunkDecoder()
        for piece in pieces(input.rest, sizes: sizes) {
            guard var pending = handshake else {
                decoder.feed(ByteBuffer(bytes: piece))
                continue
            }
            do {
                if let done = try pending.feed(ByteBuffer(bytes: piece)) {
                    require(done.c2.count == HandshakeDigest.packetSize, "C2 is \(done.c2.count) bytes")
                    handshake = nil
                    decoder.feed(done.leftover)
                } else {
                    handshake = pending
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
        name: "rtmp-session",
        summary: "A whole RTMPConnection after the handshake, fed messages on a fake clock: commands, playback, seeks, pauses, playlists",
        seeds: RTMPSeeds.sessions
    ) { bytes in
        let harness = ConnectionHarness()
        var input = FuzzInput(bytes)
        while !input.isEmpty {
            let kind = input.byte()
            let streamID = UInt32(input.byte() % 4)
            let length = Int(input.uint16() % 4096)
            let payload = input.take(length)
            let types: [UInt8] = [20, 17, 4, 1, 5, 3, 18, 6]
            let message = RTMPMessage(typeID: types[Int(kind % 8)], streamID: streamID, timestamp: 0,
                                      payload: ByteBuffer(bytes: payload), chunkStreamID: 3)
            guard harness.send(message, thenAdvance: UInt64(kind >> 3) * 250) else { return }
        }
    }
}

/// Drives an `RTMPConnection` as a driver does, without a channel: the simple handshake,
/// messages chunked by a client's encoder, opens answered from a bucket folder, pumping
/// while there is more, and a fake clock that wakes it.
final class ConnectionHarness {
    let connection: RTMPConnection
    var now: UInt64 = 1_000_000
    var encoder = ChunkEncoder()
    let resolver = MediaResolver(library: FolderMediaLibrary(root: SampleMedia.bucketRoot))

    init() {
        var logger = Logger(label: "sluice-fuzz")
        logger.logLevel = .critical
        connection = RTMPConnection(configuration: RTMPServerConfiguration(), router: SingleBucketRouter(bucket: "media"),
                                    clientID: "fuzz", logger: logger, limitLog: LimitLog(logger: logger),
                                    peerAddress: "fuzz", now: now, randomBytes: { [UInt8](repeating: 0x5A, count: $0) })
        connection.receive(ByteBuffer(bytes: [3] + [UInt8](repeating: 0, count: HandshakeDigest.packetSize)), now: now)
        connection.receive(ByteBuffer(bytes: [UInt8](repeating: 0, count: HandshakeDigest.packetSize)), now: now)
        service()
    }

    /// False once the connection asked to close.
    func send(_ message: RTMPMessage, thenAdvance milliseconds: UInt64) -> Bool {
        var bytes = ByteBuffer()
        encoder.write(message, into: &bytes)
        // The client's own Set Chunk Size applies to what it sends next, as in a real client.
        if message.typeID == 1, let size = message.payload.getInteger(at: message.payload.readerIndex, as: UInt32.self),
           (1...65536).contains(size & 0x7FFF_FFFF) {
            encoder.setChunkSize(Int(size & 0x7FFF_FFFF))
        }
        connection.receive(bytes, now: now)
        service()
        now += milliseconds
        connection.wake(now: now)
        service()
        return connection.closeRequest == nil
    }

    private func service() {
        connection.openRequestedMedia(with: resolver, now: now)
        var rounds = 0
        while connection.closeRequest == nil, rounds < 4, connection.pump(now: now) {
            _ = connection.takeOutput()
            rounds += 1
        }
        connection.openRequestedMedia(with: resolver, now: now)
        _ = connection.takeOutput()
        // Without a wake-up, a connection's timeouts would never fire.
        require(connection.isClosing || connection.nextWakeUp != nil, "an open connection with no wake-up")
    }
}
