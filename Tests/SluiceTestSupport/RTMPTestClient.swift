import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SluiceMedia
import SluiceRTMP

/// The project's own RTMP client for tests: it connects with any tcUrl and app, in AMF0
/// or AMF3, plays, seeks, pauses, calls play2, and records everything the server sends.
///
/// It exists for what no installed client exercises (pause, AMF3, `_error` replies,
/// getStreamLength, publish refusal, play2); real clients (rtmpdump, ffprobe) test the rest.
public final class RTMPTestClient: Sendable {
    /// One thing the server sent.
    public enum Event: Sendable {
        case command(RTMPCommand, streamID: UInt32, typeID: UInt8)
        case data([AMFValue], streamID: UInt32, timestamp: UInt32, typeID: UInt8)
        case media(MediaTag, streamID: UInt32)
        case userControl(UserControlEvent)
        case protocolControl(RTMPMessageType, UInt32)

        /// The `code` of an onStatus/onPlayStatus/onFCSubscribe info object, if this is one.
        public var statusCode: String? {
            switch self {
            case .command(let command, _, _):
                return command.arguments.first?["code"]?.stringValue
            case .data(let values, _, _, _):
                guard values.first?.stringValue == "onPlayStatus" else { return nil }
                return values.dropFirst().first?["code"]?.stringValue
            default:
                return nil
            }
        }
    }

    public struct Timeout: Error, CustomStringConvertible {
        public var description: String
    }

    private let channel: any Channel
    private let state: NIOLockedValueBox<ClientState>
    private let encoderBox: NIOLockedValueBox<ChunkEncoder>
    public let usedDigestHandshake: Bool
    /// True when the server's S1 and S2 verified as Flash Media Server's.
    public let serverDigestVerified: Bool

    private init(channel: any Channel, state: NIOLockedValueBox<ClientState>, encoder: NIOLockedValueBox<ChunkEncoder>, digest: Bool, verified: Bool) {
        self.channel = channel
        self.state = state
        self.encoderBox = encoder
        self.usedDigestHandshake = digest
        self.serverDigestVerified = verified
    }

    static let group = MultiThreadedEventLoopGroup.singleton

    /// Opens TCP and performs the handshake: simple (C1 version 0) or digest (Flash Player 9
    /// style); with `encryption` (6, 8 or 9), RTMPE, and everything after it in RC4.
    /// With `tunnelHost`, the connection is RTMPT (RTMPTE with `encryption`): HTTP POSTs
    /// to `port` carrying that Host header.
    public static func open(host: String = "127.0.0.1", port: Int, digestHandshake: Bool = false,
                            encryption: UInt8? = nil, tunnelHost: String? = nil) async throws -> RTMPTestClient {
        let state = NIOLockedValueBox(ClientState())
        let encoder = NIOLockedValueBox(ChunkEncoder())
        let handshake = ClientHandshakeHandler(digest: digestHandshake, encryption: encryption)
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tunnelHost {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(RTMPTClientTunnel(host: tunnelHost))
                    }
                    try channel.pipeline.syncOperations.addHandler(handshake)
                    try channel.pipeline.syncOperations.addHandler(ClientMessageHandler(state: state, encoder: encoder))
                }
            }
            .connect(host: host, port: port).get()
        let verified = try await handshake.completed.futureResult.get()
        return RTMPTestClient(channel: channel, state: state, encoder: encoder, digest: digestHandshake, verified: verified)
    }

    public var events: [Event] { state.withLockedValue { $0.events } }
    public var isClosed: Bool { state.withLockedValue { $0.closed } }

    public func send(_ message: RTMPMessage) async throws {
        var buffer = channel.allocator.buffer(capacity: message.payload.readableBytes + 32)
        encoderBox.withLockedValue { $0.write(message, into: &buffer) }
        try await channel.writeAndFlush(buffer)
    }

    public func send(command: RTMPCommand, streamID: UInt32 = 0, amf3: Bool = false) async throws {
        try await send(command.message(streamID: streamID, chunkStreamID: streamID == 0 ? 3 : 8, amf3: amf3))
    }

    /// Sends a command with a fresh transaction id and waits for its `_result` or `_error`.
    public func call(_ name: String, _ arguments: [AMFValue] = [], object: AMFValue = .null, streamID: UInt32 = 0,
                     amf3: Bool = false, timeout: Double = 5) async throws -> RTMPCommand {
        let transaction = state.withLockedValue { state -> Double in
            defer { state.nextTransaction += 1 }
            return state.nextTransaction
        }
        try await send(command: RTMPCommand(name: name, transactionID: transaction, commandObject: object, arguments: arguments), streamID: streamID, amf3: amf3)
        let event = try await waitFor("reply to \(name)", timeout: timeout) { event in
            if case .command(let command, _, _) = event, command.transactionID == transaction,
               command.name == "_result" || command.name == "_error" { return true }
            return false
        }
        guard case .command(let reply, _, _) = event else { fatalError("unreachable") }
        return reply
    }

    /// Sends `connect` (transaction 1) and waits for the reply.
    public func connect(app: String = "cfx/st", tcUrl: String, objectEncoding: Double = 0, timeout: Double = 5) async throws -> RTMPCommand {
        let properties: AMFObject = [
            "app": .string(app), "flashVer": .string("LNX 10,0,32,18"), "swfUrl": .undefined,
            "tcUrl": .string(tcUrl), "fpad": .boolean(false), "capabilities": .number(15),
            "audioCodecs": .number(3191), "videoCodecs": .number(252), "videoFunction": .number(1),
            "objectEncoding": .number(objectEncoding),
        ]
        try await send(command: RTMPCommand(name: "connect", transactionID: 1, commandObject: .object(properties)), amf3: objectEncoding == 3)
        let event = try await waitFor("connect reply", timeout: timeout) { event in
            if case .command(let command, _, _) = event, command.transactionID == 1 { return true }
            return false
        }
        guard case .command(let reply, _, _) = event else { fatalError("unreachable") }
        return reply
    }

    public func createStream(amf3: Bool = false) async throws -> UInt32 {
        let reply = try await call("createStream", amf3: amf3)
        guard reply.name == "_result", let id = reply.arguments.first?.doubleValue else {
            throw Timeout(description: "createStream failed: \(reply)")
        }
        return UInt32(id)
    }

    public func setBufferLength(streamID: UInt32, milliseconds: UInt32) async throws {
        try await send(ProtocolControl.userControl(.setBufferLength(streamID: streamID, milliseconds: milliseconds)))
    }

    public func play(streamID: UInt32, _ name: String, start: Double = -2000, length: Double = -1, reset: Bool = true, amf3: Bool = false) async throws {
        try await send(command: RTMPCommand(name: "play", transactionID: 0, arguments: [.string(name), .number(start), .number(length), .boolean(reset)]),
                       streamID: streamID, amf3: amf3)
    }

    public func play2(streamID: UInt32, _ parameters: AMFObject) async throws {
        try await send(command: RTMPCommand(name: "play2", transactionID: 0, arguments: [.object(parameters)]), streamID: streamID)
    }

    public func seek(streamID: UInt32, milliseconds: Double) async throws {
        try await send(command: RTMPCommand(name: "seek", transactionID: 0, arguments: [.number(milliseconds)]), streamID: streamID)
    }

    public func pause(streamID: UInt32, _ paused: Bool, milliseconds: Double) async throws {
        try await send(command: RTMPCommand(name: "pause", transactionID: 0, arguments: [.boolean(paused), .number(milliseconds)]), streamID: streamID)
    }

    /// Waits until an event matches; returns it. Events already received count.
    @discardableResult
    public func waitFor(_ what: String, timeout: Double = 10, after index: Int = 0, _ predicate: @Sendable (Event) -> Bool) async throws -> Event {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let (found, closed) = state.withLockedValue { state -> (Event?, Bool) in
                (state.events.dropFirst(index).first(where: predicate), state.closed)
            }
            if let found { return found }
            if closed { throw Timeout(description: "connection closed while waiting for \(what)") }
            if Date() > deadline { throw Timeout(description: "timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Waits for an onStatus/onPlayStatus with this code and returns its info object.
    @discardableResult
    public func waitForStatus(_ code: String, timeout: Double = 10, after index: Int = 0) async throws -> AMFObject {
        let event = try await waitFor(code, timeout: timeout, after: index) { $0.statusCode == code }
        switch event {
        case .command(let command, _, _): return command.arguments.first?.objectValue ?? AMFObject()
        case .data(let values, _, _, _): return values.dropFirst().first?.objectValue ?? AMFObject()
        default: return AMFObject()
        }
    }

    /// Waits until the server closes the connection.
    public func waitForClose(timeout: Double = 5) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !isClosed {
            if Date() > deadline { throw Timeout(description: "server did not close the connection") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    public var statusCodes: [String] { events.compactMap(\.statusCode) }

    public var mediaTags: [MediaTag] {
        events.compactMap { if case .media(let tag, _) = $0 { return tag } else { return nil } }
    }

    public func close() async {
        try? await channel.close()
    }
}

extension RTMPTestClient.Event {
    /// What a message from the server is, for a test to look at; nil for what tests ignore.
    public init?(_ message: RTMPMessage) {
        switch message.type {
        case .setChunkSize, .abort, .acknowledgement, .windowAcknowledgementSize, .setPeerBandwidth:
            self = .protocolControl(message.type!, message.payload.getInteger(at: message.payload.readerIndex, as: UInt32.self) ?? 0)
        case .userControl:
            guard let control = try? UserControlEvent.decode(message.payload) else { return nil }
            self = .userControl(control)
        case .commandAMF0, .commandAMF3:
            guard let command = try? RTMPCommand.decode(message) else { return nil }
            self = .command(command, streamID: message.streamID, typeID: message.typeID)
        case .dataAMF0, .dataAMF3:
            guard let values = try? RTMPCommand.decodeValues(message) else { return nil }
            self = .data(values, streamID: message.streamID, timestamp: message.timestamp, typeID: message.typeID)
        case .audio, .video:
            let payload = message.payload.getBytes(at: message.payload.readerIndex, length: message.payload.readableBytes) ?? []
            self = .media(MediaTag(type: message.type == .audio ? .audio : .video, timestamp: message.timestamp, payload: payload),
                          streamID: message.streamID)
        default:
            return nil
        }
    }
}

struct ClientState {
    var events: [RTMPTestClient.Event] = []
    var nextTransaction: Double = 2
    var closed = false
}

/// The client half of the handshake (SluiceRTMP's `ClientHandshake`) as a channel
/// handler; passes everything after S2 on, through RC4 both ways under RTMPE.
final class ClientHandshakeHandler: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    var completed: EventLoopPromise<Bool>!
    private var handshake: ClientHandshake?
    private var ciphers: RTMPE.Ciphers?

    init(digest: Bool, encryption: UInt8? = nil) {
        handshake = ClientHandshake(digest: digest, encryption: encryption)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard ciphers != nil else { return context.write(data, promise: promise) }
        var bytes = unwrapOutboundIn(data)
        bytes.withUnsafeMutableReadableBytes { ciphers!.outgoing.apply($0) }
        context.write(wrapOutboundOut(bytes), promise: promise)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        completed = context.eventLoop.makePromise()
    }

    func channelActive(context: ChannelHandlerContext) {
        if let handshake { context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: handshake.c0c1)), promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard var pending = handshake else {
            guard ciphers != nil else { return context.fireChannelRead(data) }
            var bytes = unwrapInboundIn(data)
            bytes.withUnsafeMutableReadableBytes { ciphers!.incoming.apply($0) }
            context.fireChannelRead(wrapInboundOut(bytes))
            return
        }
        do {
            guard let done = try pending.feed(unwrapInboundIn(data)) else {
                handshake = pending
                return
            }
            handshake = nil
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: done.c2)), promise: nil)
            ciphers = done.ciphers
            var leftover = done.leftover
            if ciphers != nil { leftover.withUnsafeMutableReadableBytes { ciphers!.incoming.apply($0) } }
            completed.succeed(done.serverVerified)
            if leftover.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(leftover)) }
        } catch {
            completed.fail(error)
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        completed.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        completed.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }
}

/// Decodes the server's chunk stream into recorded events and answers pings.
final class ClientMessageHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var decoder = ChunkDecoder(limits: .init(maximumChunkSize: 1 << 24, maximumMessageSize: 1 << 26))
    private let state: NIOLockedValueBox<ClientState>
    private let encoder: NIOLockedValueBox<ChunkEncoder>

    init(state: NIOLockedValueBox<ClientState>, encoder: NIOLockedValueBox<ChunkEncoder>) {
        self.state = state
        self.encoder = encoder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decoder.feed(unwrapInboundIn(data))
        do {
            while let message = try decoder.nextMessage() {
                record(message, context: context)
            }
        } catch {
            context.close(promise: nil)
        }
    }

    private func record(_ message: RTMPMessage, context: ChannelHandlerContext) {
        guard let event = RTMPTestClient.Event(message) else { return }
        if case .userControl(.pingRequest(let timestamp)) = event {
            var out = context.channel.allocator.buffer(capacity: 32)
            encoder.withLockedValue { $0.write(ProtocolControl.userControl(.pingResponse(timestamp: timestamp)), into: &out) }
            context.writeAndFlush(NIOAny(out), promise: nil)
        }
        state.withLockedValue { $0.events.append(event) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.withLockedValue { $0.closed = true }
        context.fireChannelInactive()
    }
}
