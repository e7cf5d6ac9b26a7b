import NIOCore
import SluiceMedia

/// One connection's RTMP conversation after the handshake: control messages and
/// commands in, replies and playback intents out.
///
/// Pure: no sockets, no files, no clocks. The channel handler performs the actions and
/// tells the session what became of them (for example, whether a stream was found).
public struct RTMPSession {
    public struct Configuration: Sendable {
        public var outgoingChunkSize: Int
        public var windowAcknowledgementSize: UInt32
        public var peerBandwidth: UInt32
        public var maximumStreams: Int
        /// Call the player's `onBWDone` after connect, as servers did to start librtmp's
        /// bandwidth check (it answers with `_checkbw`).
        public var announceBandwidthCheck: Bool

        public init(outgoingChunkSize: Int = 4096, windowAcknowledgementSize: UInt32 = 2_500_000,
                    peerBandwidth: UInt32 = 2_500_000, maximumStreams: Int = 32, announceBandwidthCheck: Bool = false) {
            self.announceBandwidthCheck = announceBandwidthCheck
            self.outgoingChunkSize = outgoingChunkSize
            self.windowAcknowledgementSize = windowAcknowledgementSize
            self.peerBandwidth = peerBandwidth
            self.maximumStreams = maximumStreams
        }
    }

    public enum State: Equatable, Sendable {
        case awaitingConnect
        case connected(StreamRoute)
        /// A refused or closed connection: everything more is ignored.
        case closed
    }

    /// What the handler must do.
    public enum Action {
        case send(RTMPMessage)
        /// Send Set Chunk Size was queued: switch the encoder after it.
        case setOutgoingChunkSize(Int)
        case play(PlayRequest)
        case play2(Play2Request)
        case seek(streamID: UInt32, milliseconds: UInt32)
        case pause(streamID: UInt32, paused: Bool, milliseconds: UInt32)
        case stop(streamID: UInt32)
        case receive(streamID: UInt32, audio: Bool?, video: Bool?)
        case setBufferLength(streamID: UInt32, milliseconds: UInt32)
        case streamLength(transactionID: Double, name: String)
        /// The player asked for a bandwidth check: FMS's `checkBandwidth` or librtmp's `_checkbw`.
        case checkBandwidth(librtmpStyle: Bool)
        /// The player answered a call the server made.
        case callAnswered(transactionID: Double)
        /// Flush what was sent, then close (a refused connect).
        case close(reason: String)
    }

    public struct PlayRequest: Sendable {
        public var streamID: UInt32
        public var name: String
        /// Where to start, in milliseconds; nil for the beginning (FMS's negative
        /// live/recorded selectors, and anything that is not a number).
        public var start: UInt32?
        /// How much to play, in milliseconds; nil for all of it (a negative len).
        public var length: UInt32?
        public var reset: Bool
        public var amf3: Bool
    }

    /// `play2(NetStreamPlayOptions)`: how to move from what a stream plays to `streamName`.
    public struct Play2Request: Sendable {
        /// NetStreamPlayTransitions.
        public enum Transition: String, Sendable, CaseIterable {
            case `switch`, swap, append, appendAndWait, reset, stop, resume
        }

        public var streamID: UInt32
        public var streamName: String
        public var oldStreamName: String?
        public var transition: Transition
        /// Milliseconds (play2 sends seconds); nil for the default.
        public var start: UInt32?
        public var length: UInt32?
        /// A fast switch's point in stream time; nil (or -1 on the wire) for a standard switch.
        public var offset: UInt32?
        public var amf3: Bool

        /// The same request as a `play`, for the transitions that act as one.
        public func play(reset: Bool) -> PlayRequest {
            PlayRequest(streamID: streamID, name: streamName, start: start, length: length, reset: reset, amf3: amf3)
        }
    }

    public let configuration: Configuration
    public let router: any ConnectRouter
    public let clientID: String
    /// Why `connect` was refused, once it was.
    public private(set) var rejection: ConnectRejection?
    public private(set) var state: State = .awaitingConnect
    public private(set) var objectEncoding: Double = 0
    public private(set) var connectRequest: ConnectRequest?
    private var streams: Set<UInt32> = []
    /// The next ID createStream hands out (internal: tests start it near the wrap).
    var nextStreamID: UInt32 = 1
    /// The peer's Window Acknowledgement Size: acknowledge each time this many bytes arrived.
    public private(set) var peerWindowSize: UInt32 = 0
    public private(set) var lastAcknowledged: UInt64 = 0

    /// The Host of the HTTP requests carrying the connection (RTMPT); nil over TCP.
    public var httpHost: String?

    public init(configuration: Configuration = Configuration(), router: any ConnectRouter, clientID: String) {
        self.configuration = configuration
        self.router = router
        self.clientID = clientID
    }

    public var route: StreamRoute? {
        if case .connected(let route) = state { return route }
        return nil
    }

    public var isAMF3: Bool { objectEncoding == 3 }

    /// Whether `createStream` made this stream and `deleteStream` has not removed it.
    public func hasStream(_ streamID: UInt32) -> Bool { streams.contains(streamID) }

    /// Acknowledgements owed for `totalReceived` bytes (RTMP 5.4.3).
    public mutating func acknowledgements(totalReceived: UInt64) -> [Action] {
        guard peerWindowSize > 0, totalReceived - lastAcknowledged >= UInt64(peerWindowSize) else { return [] }
        lastAcknowledged = totalReceived
        return [.send(ProtocolControl.acknowledgement(sequenceNumber: UInt32(truncatingIfNeeded: totalReceived)))]
    }

    public mutating func handle(_ message: RTMPMessage) throws(RTMPProtocolError) -> [Action] {
        guard state != .closed else { return [] }
        switch message.type {
        case .setChunkSize, .abort, .acknowledgement, .setPeerBandwidth:
            return []  // chunk size and abort already applied by the decoder
        case .windowAcknowledgementSize:
            guard let size = message.payload.getInteger(at: message.payload.readerIndex, as: UInt32.self) else {
                throw .malformedMessage("Window Acknowledgement Size without a size")
            }
            peerWindowSize = size
            return []
        case .userControl:
            return handleUserControl(try UserControlEvent.decode(message.payload))
        case .commandAMF0, .commandAMF3:
            return handleCommand(try RTMPCommand.decode(message), streamID: message.streamID, amf3Message: message.type == .commandAMF3)
        default:
            // Media, data and shared-object messages from a player are not for an on-demand server.
            return []
        }
    }

    private func handleUserControl(_ event: UserControlEvent) -> [Action] {
        switch event {
        case .pingRequest(let timestamp):
            return [.send(ProtocolControl.userControl(.pingResponse(timestamp: timestamp)))]
        case .setBufferLength(let streamID, let milliseconds):
            // Kept per stream by the handler: only for streams that exist (and 0, which
            // librtmp uses before createStream), so a client cannot grow that table.
            guard streamID == 0 || streams.contains(streamID) else { return [] }
            return [.setBufferLength(streamID: streamID, milliseconds: milliseconds)]
        default:
            return []
        }
    }

    private func reply(_ name: String, _ transactionID: Double, _ arguments: [AMFValue], streamID: UInt32 = 0, object: AMFValue = .null) -> Action {
        let command = RTMPCommand(name: name, transactionID: transactionID, commandObject: object, arguments: arguments)
        return .send(command.message(streamID: streamID, chunkStreamID: streamID == 0 ? ChunkStreamID.connectionCommand : ChunkStreamID.streamCommand, amf3: isAMF3))
    }

    /// An `onStatus` on a stream.
    public func onStatus(streamID: UInt32, _ info: AMFValue) -> RTMPMessage {
        RTMPCommand.onStatus(info, streamID: streamID, amf3: isAMF3)
    }

    private func callFailed(_ command: RTMPCommand, _ description: String) -> Action {
        reply("_error", command.transactionID, [FMS.status("NetConnection.Call.Failed", level: "error", description: description)])
    }

    private mutating func handleCommand(_ command: RTMPCommand, streamID: UInt32, amf3Message: Bool) -> [Action] {
        if command.name == "connect" { return connect(command, amf3Message: amf3Message) }
        guard case .connected = state else {
            // Anything before connect is a confused or hostile client.
            state = .closed
            return [.close(reason: "'\(command.name)' before connect")]
        }
        let name = command.arguments.first?.stringValue ?? ""
        switch command.name {
        case "createStream":
            guard streams.count < configuration.maximumStreams else {
                return [callFailed(command, "Too many streams on this connection.")]
            }
            // IDs wrap (a client may create and delete streams forever) and skip 0 and
            // those in use.
            var id = nextStreamID
            while id == 0 || streams.contains(id) { id &+= 1 }
            nextStreamID = id &+ 1
            streams.insert(id)
            return [reply("_result", command.transactionID, [.number(Double(id))])]
        case "play":
            guard streams.contains(streamID) else { return [callFailed(command, "play on stream \(streamID), which was not created.")] }
            let start = command.arguments.count > 1 ? command.arguments[1].doubleValue.flatMap { WireNumber.milliseconds($0) } : nil
            let length = command.arguments.count > 2 ? command.arguments[2].doubleValue.flatMap { WireNumber.milliseconds($0) } : nil
            let reset = command.arguments.count > 3 ? command.arguments[3].boolValue ?? true : true
            if command.arguments.first == .boolean(false) {
                return [.stop(streamID: streamID)]  // play(false) stops, as in FMS
            }
            return [.play(PlayRequest(streamID: streamID, name: name, start: start, length: length, reset: reset, amf3: isAMF3))]
        case "play2":
            return [play2(command, streamID: streamID)]
        case "seek":
            guard streams.contains(streamID) else { return [callFailed(command, "seek on stream \(streamID), which was not created.")] }
            let target = command.arguments.first?.doubleValue.flatMap { WireNumber.milliseconds($0) } ?? 0
            return [.seek(streamID: streamID, milliseconds: target)]
        case "pause", "pauseRaw":
            guard streams.contains(streamID) else { return [callFailed(command, "pause on stream \(streamID), which was not created.")] }
            let paused = command.arguments.first?.boolValue ?? true
            let position = command.arguments.count > 1 ? command.arguments[1].doubleValue.flatMap { WireNumber.milliseconds($0) } ?? 0 : 0
            return [.pause(streamID: streamID, paused: paused, milliseconds: position)]
        case "closeStream":
            return streams.contains(streamID) ? [.stop(streamID: streamID)] : []
        case "deleteStream":
            let target = command.arguments.first.map { $0.doubleValue.flatMap(WireNumber.streamID) } ?? streamID
            guard let target, streams.remove(target) != nil else { return [] }
            return [.stop(streamID: target)]
        case "receiveAudio", "receiveVideo":
            let flag = command.arguments.first?.boolValue ?? true
            return [.receive(streamID: streamID, audio: command.name == "receiveAudio" ? flag : nil,
                             video: command.name == "receiveVideo" ? flag : nil)]
        case "releaseStream":
            return [reply("_result", command.transactionID, [.undefined])]
        case "FCSubscribe":
            return [reply("onFCSubscribe", 0, [FMS.status("NetStream.Play.Start", description: name)])]
        case "FCUnsubscribe":
            return [reply("onFCUnsubscribe", 0, [FMS.status("NetStream.Play.Stop", description: name)])]
        case "getStreamLength":
            return [.streamLength(transactionID: command.transactionID, name: name)]
        case "publish":
            return [.send(onStatus(streamID: streamID, FMS.status(
                "NetStream.Publish.BadName", level: "error",
                description: "Publishing is not supported: Sluice serves video on demand only.",
                extra: [("details", .string(name)), ("clientid", .string(clientID))])))]
        case "FCPublish", "FCUnpublish":
            return [callFailed(command, "\(command.name) refused: Sluice serves video on demand only.")]
        case "checkBandwidth", "_checkbw":
            return [.checkBandwidth(librtmpStyle: command.name == "_checkbw")]
        case "_result", "_error":
            return [.callAnswered(transactionID: command.transactionID)]
        case "onBWDone", "onStatus", "close":
            return []  // courtesy calls that need nothing
        default:
            return [callFailed(command, "Method not found (\(command.name)).")]
        }
    }

    /// Reads NetStreamPlayOptions; a missing name or an unknown transition fails the call.
    private func play2(_ command: RTMPCommand, streamID: UInt32) -> Action {
        // The options object is the first argument (after the null command object).
        guard streams.contains(streamID), let options = command.arguments.first?.objectValue,
              let streamName = options["streamName"]?.stringValue, !streamName.isEmpty
        else { return callFailed(command, "play2 needs a stream that was created and an object with a streamName.") }
        let transitionName = options["transition"]?.stringValue ?? Play2Request.Transition.switch.rawValue
        guard let transition = Play2Request.Transition(rawValue: transitionName) else {
            return .send(onStatus(streamID: streamID, FMS.playStatus(
                "NetStream.Play.Failed", level: "error", "Unknown transition \(transitionName) to \(streamName).",
                name: streamName, clientID: clientID)))
        }
        func seconds(_ key: String) -> UInt32? {
            options[key]?.doubleValue.flatMap { WireNumber.milliseconds(fromSeconds: $0) }
        }
        return .play2(Play2Request(
            streamID: streamID, streamName: streamName, oldStreamName: options["oldStreamName"]?.stringValue,
            transition: transition, start: seconds("start"), length: seconds("len"), offset: seconds("offset"), amf3: isAMF3))
    }

    private mutating func connect(_ command: RTMPCommand, amf3Message: Bool) -> [Action] {
        guard case .awaitingConnect = state else {
            return [callFailed(command, "Already connected.")]
        }
        let properties = command.commandObject.objectValue ?? AMFObject()
        objectEncoding = properties["objectEncoding"]?.doubleValue == 3 ? 3 : 0
        let request = ConnectRequest(
            app: properties["app"]?.stringValue ?? "",
            tcUrl: properties["tcUrl"]?.stringValue,
            pageUrl: properties["pageUrl"]?.stringValue,
            flashVersion: properties["flashVer"]?.stringValue,
            httpHost: httpHost)
        connectRequest = request
        let decision: Result<StreamRoute, ConnectRejection>
        if let text = request.tcUrl, let tcUrl = TcURL(text) {
            decision = router.route(request, tcUrl: tcUrl)
        } else {
            decision = .failure(.invalidURI(request.tcUrl))
        }
        switch decision {
        case .failure(let rejection):
            self.rejection = rejection
            state = .closed
            return [
                reply("_error", command.transactionID, [FMS.connectRejected(rejection)], object: FMS.connectProperties()),
                .close(reason: "connect refused: \(rejection.code) (app '\(request.app)', tcUrl '\(request.tcUrl ?? "")')"),
            ]
        case .success(let route):
            state = .connected(route)
            return [
                .send(ProtocolControl.windowAcknowledgementSize(configuration.windowAcknowledgementSize)),
                .send(ProtocolControl.setPeerBandwidth(configuration.peerBandwidth, limit: .dynamic)),
                .send(ProtocolControl.setChunkSize(configuration.outgoingChunkSize)),
                .setOutgoingChunkSize(configuration.outgoingChunkSize),
                .send(ProtocolControl.userControl(.streamBegin(streamID: 0))),
                reply("_result", command.transactionID, [FMS.connectSuccess(objectEncoding: objectEncoding)], object: FMS.connectProperties()),
            ] + (configuration.announceBandwidthCheck ? [reply("onBWDone", 0, [])] : [])
        }
    }
}
