import Logging
import NIOCore
import SluiceHTTP
import SluiceMedia
import SluiceRTMP

/// A client that talks to an `RTMPConnection` directly: no socket, no event loop, and a
/// clock that moves only when the test says so. Its socket takes everything at once, so
/// what arrives is exactly what the connection's pacing lets out.
public final class ConnectionTestPeer {
    public let connection: RTMPConnection
    public private(set) var now: UInt64
    public private(set) var events: [RTMPTestClient.Event] = []
    /// Each event's arrival time on the fake clock (parallel to `events`).
    public private(set) var arrivals: [UInt64] = []
    /// Opens are answered by the test (see `answerOpens`) instead of at once.
    public var holdOpens = false
    public private(set) var heldOpens: [RTMPConnection.MediaOpenRequest] = []
    public let resolver: MediaResolver

    private var encoder = ChunkEncoder()
    private var decoder = ChunkDecoder(limits: .init(maximumChunkSize: 1 << 24, maximumMessageSize: 1 << 26))
    private var nextTransaction: Double = 2
    private var handshakeBytes: [UInt8] = []
    private var handshakeDone = false
    /// Set for an RTMPE handshake (`handshake(encryption:)`).
    private var clientHandshake: ClientHandshake?
    /// RTMPE's keystreams from the client's side, once its handshake is done.
    private var ciphers: RTMPE.Ciphers?

    public static let url = "rtmp://127.0.0.1/cfx/st"

    public init(bucketRoot: String, configuration: RTMPServerConfiguration = .init(), now: UInt64 = 1_000_000,
                router: any ConnectRouter = SingleBucketRouter(bucket: "media")) {
        var logger = Logger(label: "sluice-test")
        logger.logLevel = .warning
        self.now = now
        resolver = MediaResolver(library: FolderMediaLibrary(root: bucketRoot))
        connection = RTMPConnection(configuration: configuration, router: router, clientID: "test", logger: logger,
                                    limitLog: LimitLog(logger: logger), peerAddress: "192.0.2.1", now: now)
    }

    // MARK: Bytes and time

    /// Hands raw bytes to the connection as if they came from the socket.
    public func receive(_ bytes: [UInt8]) {
        var bytes = bytes
        if ciphers != nil { ciphers!.outgoing.apply(&bytes) }
        connection.receive(ByteBuffer(bytes: bytes), now: now)
        service()
    }

    /// Moves the clock to `now + milliseconds`, waking the connection at every wake-up
    /// it asked for on the way, as a driver's timer would.
    public func advance(by milliseconds: UInt64) {
        let target = now + milliseconds
        while let wake = connection.nextWakeUp, wake <= target, !connection.isClosing {
            now = max(now, wake)
            connection.wake(now: now)
            service()
        }
        now = target
        connection.wake(now: now)
        service()
    }

    /// The server is stopping.
    public func serverStopping() {
        connection.serverStopping()
        collectOutput()
    }

    /// Answers the opens held back with `holdOpens`, from the bucket.
    public func answerOpens() {
        let requests = heldOpens
        heldOpens.removeAll()
        for request in requests {
            connection.mediaOpened(request.id, resolver.open(request.name, route: request.route) ?? .failure(.notFound), now: now)
        }
        service()
    }

    /// What a driver does after each input: opens, output, and pumping while there is more.
    private func service() {
        if holdOpens {
            heldOpens += connection.takeMediaOpenRequests()
        } else {
            connection.openRequestedMedia(with: resolver, now: now)
        }
        collectOutput()
        var rounds = 0
        while connection.closeRequest == nil, connection.pump(now: now) {
            collectOutput()
            rounds += 1
            precondition(rounds < 100_000, "pump never stopped")
        }
        if holdOpens {
            heldOpens += connection.takeMediaOpenRequests()
        } else {
            connection.openRequestedMedia(with: resolver, now: now)
        }
        collectOutput()
    }

    private func collectOutput() {
        guard var output = connection.takeOutput() else { return }
        if !handshakeDone {
            // S0, S1 and S2, then chunks.
            let needed = 1 + 2 * 1536 - handshakeBytes.count
            let take = min(needed, output.readableBytes)
            handshakeBytes += output.readBytes(length: take) ?? []
            if handshakeBytes.count == 1 + 2 * 1536 {
                handshakeDone = true
                if var client = clientHandshake {
                    // RTMPE: C2 signed for the server's digest, then RC4 both ways.
                    let completion = try? client.feed(ByteBuffer(bytes: handshakeBytes))
                    precondition(completion?.ciphers != nil, "the server's RTMPE handshake did not verify")
                    connection.receive(ByteBuffer(bytes: completion!.c2), now: now)
                    ciphers = completion!.ciphers
                } else {
                    // C2 echoes S1.
                    let c2 = Array(handshakeBytes[1..<1537])
                    connection.receive(ByteBuffer(bytes: c2), now: now)
                }
            }
        }
        if handshakeDone, ciphers != nil {
            output.withUnsafeMutableReadableBytes { ciphers!.incoming.apply($0) }
        }
        decoder.feed(output)
        while let message = try? decoder.nextMessage() {
            if let event = RTMPTestClient.Event(message) {
                events.append(event)
                arrivals.append(now)
            }
        }
    }

    // MARK: A player's calls

    /// C0 and a version-zero C1 (the simple handshake); C2 goes out when S1 arrives.
    /// With `encryption` (6, 8 or 9), the RTMPE handshake, and everything after it in RC4.
    public func handshake(encryption: UInt8? = nil) {
        if let encryption {
            let client = ClientHandshake(digest: true, encryption: encryption)
            clientHandshake = client
            receive(client.c0c1)
            return
        }
        receive([3] + [UInt8](repeating: 0, count: 8) + (0..<1528).map { UInt8(truncatingIfNeeded: $0 &* 7) })
    }

    public func send(_ message: RTMPMessage) {
        var buffer = ByteBuffer()
        encoder.write(message, into: &buffer)
        receive(Array(buffer.readableBytesView))
    }

    public func send(command: RTMPCommand, streamID: UInt32 = 0, amf3: Bool = false) {
        send(command.message(streamID: streamID, chunkStreamID: streamID == 0 ? 3 : 8, amf3: amf3))
    }

    /// Sends a command with a fresh transaction id; returns its `_result` or `_error`, if one came.
    @discardableResult
    public func call(_ name: String, _ arguments: [AMFValue] = [], streamID: UInt32 = 0) -> RTMPCommand? {
        let transaction = nextTransaction
        nextTransaction += 1
        let before = events.count
        send(command: RTMPCommand(name: name, transactionID: transaction, arguments: arguments), streamID: streamID)
        return reply(to: transaction, after: before)
    }

    private func reply(to transaction: Double, after index: Int) -> RTMPCommand? {
        for event in events.dropFirst(index) {
            if case .command(let command, _, _) = event, command.transactionID == transaction,
               command.name == "_result" || command.name == "_error" { return command }
        }
        return nil
    }

    /// Handshake, connect; returns the reply.
    @discardableResult
    public func connect(objectEncoding: Double = 0, encryption: UInt8? = nil) -> RTMPCommand? {
        handshake(encryption: encryption)
        let properties: AMFObject = [
            "app": .string("cfx/st"), "flashVer": .string("LNX 10,0,32,18"), "tcUrl": .string(Self.url),
            "capabilities": .number(15), "objectEncoding": .number(objectEncoding),
        ]
        let before = events.count
        send(command: RTMPCommand(name: "connect", transactionID: 1, commandObject: .object(properties)), amf3: objectEncoding == 3)
        return reply(to: 1, after: before)
    }

    /// createStream; the new stream's ID.
    public func createStream() -> UInt32? {
        guard let reply = call("createStream"), reply.name == "_result", let id = reply.arguments.first?.doubleValue else { return nil }
        return UInt32(exactly: id)
    }

    public func setBufferLength(streamID: UInt32, milliseconds: UInt32) {
        send(ProtocolControl.userControl(.setBufferLength(streamID: streamID, milliseconds: milliseconds)))
    }

    public func play(streamID: UInt32, _ name: String, start: Double = -2000, length: Double = -1, reset: Bool = true) {
        send(command: RTMPCommand(name: "play", transactionID: 0, arguments: [.string(name), .number(start), .number(length), .boolean(reset)]),
             streamID: streamID)
    }

    public func play2(streamID: UInt32, _ parameters: AMFObject, amf3: Bool = false) {
        send(command: RTMPCommand(name: "play2", transactionID: 0, arguments: [.object(parameters)]), streamID: streamID, amf3: amf3)
    }

    public func seek(streamID: UInt32, milliseconds: Double) {
        send(command: RTMPCommand(name: "seek", transactionID: 0, arguments: [.number(milliseconds)]), streamID: streamID)
    }

    public func pause(streamID: UInt32, _ paused: Bool, milliseconds: Double) {
        send(command: RTMPCommand(name: "pause", transactionID: 0, arguments: [.boolean(paused), .number(milliseconds)]), streamID: streamID)
    }

    // MARK: What arrived

    public var statusCodes: [String] { events.compactMap(\.statusCode) }

    /// Media messages with the clock time each arrived.
    public var media: [(tag: MediaTag, streamID: UInt32, arrived: UInt64)] {
        zip(events, arrivals).compactMap { event, arrived in
            if case .media(let tag, let streamID) = event { return (tag, streamID, arrived) }
            return nil
        }
    }

    public var mediaTags: [MediaTag] { media.map(\.tag) }

    /// The index of the first event with this status code.
    public func index(ofStatus code: String, after earlier: Int? = nil) -> Int? {
        let from = earlier.map { $0 + 1 } ?? 0
        return events.indices.dropFirst(from).first { events[$0].statusCode == code }
    }
}
