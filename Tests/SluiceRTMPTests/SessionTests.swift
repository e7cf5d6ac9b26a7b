import NIOCore
import SluiceMedia
@testable import SluiceRTMP
import XCTest

/// The per-connection session state machine: FMS 3.5's replies, refusals and errors.
final class SessionTests: XCTestCase {
    func session() -> RTMPSession {
        RTMPSession(router: SingleBucketRouter(bucket: "media"), clientID: "c1")
    }

    func command(_ name: String, _ transaction: Double = 0, object: AMFValue = .null, _ arguments: [AMFValue] = [], stream: UInt32 = 0, amf3: Bool = false) -> RTMPMessage {
        RTMPCommand(name: name, transactionID: transaction, commandObject: object, arguments: arguments).message(streamID: stream, chunkStreamID: 3, amf3: amf3)
    }

    func connectMessage(app: String = "cfx/st", tcUrl: String? = "rtmp://s5c39gqb8ow64r.cloudfront.net/cfx/st", encoding: Double = 0) -> RTMPMessage {
        var object: AMFObject = ["app": .string(app), "objectEncoding": .number(encoding)]
        if let tcUrl { object["tcUrl"] = .string(tcUrl) }
        return command("connect", 1, object: .object(object), amf3: encoding == 3)
    }

    func sentCommands(_ actions: [RTMPSession.Action]) throws -> [RTMPCommand] {
        try actions.compactMap { action -> RTMPCommand? in
            guard case .send(let message) = action, message.type == .commandAMF0 || message.type == .commandAMF3 else { return nil }
            return try RTMPCommand.decode(message)
        }
    }

    func testConnectRepliesAsFMS35() throws {
        var session = session()
        let actions = try session.handle(connectMessage())
        let types = actions.compactMap { action -> UInt8? in if case .send(let m) = action { return m.typeID } else { return nil } }
        // Window Ack Size, Set Peer Bandwidth, Set Chunk Size, StreamBegin, then _result.
        XCTAssertEqual(types, [5, 6, 1, 4, 20])
        let result = try XCTUnwrap(try sentCommands(actions).first)
        XCTAssertEqual(result.name, "_result")
        XCTAssertEqual(result.transactionID, 1)
        XCTAssertEqual(result.commandObject["fmsVer"]?.stringValue?.hasPrefix("FMS/3,5,"), true)
        XCTAssertEqual(result.commandObject["capabilities"], .number(31))
        XCTAssertEqual(result.commandObject["mode"], .number(1))
        let info = try XCTUnwrap(result.arguments.first)
        XCTAssertEqual(info["code"], .string("NetConnection.Connect.Success"))
        XCTAssertEqual(info["level"], .string("status"))
        XCTAssertEqual(info["data"]?["version"]?.stringValue?.hasPrefix("3,5,"), true)
        XCTAssertEqual(session.route, StreamRoute(bucket: "media"))
    }

    func testApplicationWithoutInstanceIsTheDefaultInstance() throws {
        var session = session()
        let result = try XCTUnwrap(try sentCommands(session.handle(connectMessage(app: "cfx", tcUrl: "rtmp://127.0.0.1:1935/cfx"))).first)
        XCTAssertEqual(result.name, "_result")
    }

    func testOtherApplicationsAreInvalidInstance() throws {
        for app in ["vod", "cfx/other", "live/st", "cfx/st/extra"] {
            var session = session()
            let actions = try session.handle(connectMessage(app: app))
            let reply = try XCTUnwrap(try sentCommands(actions).first)
            XCTAssertEqual(reply.name, "_error", app)
            XCTAssertEqual(reply.arguments.first?["code"], .string("NetConnection.Connect.Rejected"))
            XCTAssertEqual(reply.arguments.first?["description"]?.stringValue?.contains("InvalidInstance"), true)
            XCTAssertEqual(reply.arguments.first?["application"]?["message"], .string("InvalidInstance"))
            XCTAssertTrue(actions.contains { if case .close = $0 { return true } else { return false } })
            XCTAssertEqual(session.state, .closed)
        }
    }

    func testUnparseableTcUrlIsInvalidURI() throws {
        for tcUrl: String? in [nil, "not a url", "http://host/cfx/st", "rtmp://", "rtmp://host:99999/cfx/st"] {
            var session = session()
            let reply = try XCTUnwrap(try sentCommands(session.handle(connectMessage(tcUrl: tcUrl))).first)
            XCTAssertEqual(reply.arguments.first?["description"]?.stringValue?.hasPrefix("InvalidURI"), true, "\(tcUrl ?? "nil")")
        }
    }

    func testAMF3ClientsGetType17Replies() throws {
        var session = session()
        let actions = try session.handle(connectMessage(encoding: 3))
        guard case .send(let message) = actions.last else { return XCTFail() }
        XCTAssertEqual(message.type, .commandAMF3)
        XCTAssertEqual(message.payload.getInteger(at: 0, as: UInt8.self), 0)
        let result = try RTMPCommand.decode(message)
        XCTAssertEqual(result.arguments.first?["objectEncoding"]?.doubleValue, 3)
    }

    func testStreamCommandsAndUnknownCalls() throws {
        var session = session()
        _ = try session.handle(connectMessage())
        let created = try sentCommands(session.handle(command("createStream", 2)))
        XCTAssertEqual(created.first?.name, "_result")
        XCTAssertEqual(created.first?.arguments.first, .number(1))

        let play = try session.handle(command("play", 0, ["clip", .number(30000), .number(-1), .boolean(true)], stream: 1))
        guard case .play(let request) = play.first else { return XCTFail("no play") }
        XCTAssertEqual(request.name, "clip")
        XCTAssertEqual(request.start, 30000)

        let unknown = try sentCommands(session.handle(command("doSomething", 5)))
        XCTAssertEqual(unknown.first?.name, "_error")
        XCTAssertEqual(unknown.first?.transactionID, 5)
        XCTAssertEqual(unknown.first?.arguments.first?["code"], .string("NetConnection.Call.Failed"))

        let publish = try sentCommands(session.handle(command("publish", 0, ["live", "live"], stream: 1)))
        XCTAssertEqual(publish.first?.arguments.first?["code"], .string("NetStream.Publish.BadName"))
        let fcPublish = try sentCommands(session.handle(command("FCPublish", 6, ["live"])))
        XCTAssertEqual(fcPublish.first?.name, "_error")

        let subscribe = try sentCommands(session.handle(command("FCSubscribe", 7, ["clip"])))
        XCTAssertEqual(subscribe.first?.name, "onFCSubscribe")

        // A stream that was never created.
        let stray = try sentCommands(session.handle(command("play", 0, ["clip"], stream: 9)))
        XCTAssertEqual(stray.first?.name, "_error")
    }

    func testCommandsBeforeConnectCloseTheConnection() throws {
        var session = session()
        let actions = try session.handle(command("createStream", 2))
        XCTAssertTrue(actions.contains { if case .close = $0 { return true } else { return false } })
    }

    func testPingsAreAnsweredAndAcknowledgementsOwed() throws {
        var session = session()
        let ping = try session.handle(ProtocolControl.userControl(.pingRequest(timestamp: 42)))
        guard case .send(let pong) = ping.first else { return XCTFail() }
        XCTAssertEqual(try UserControlEvent.decode(pong.payload), .pingResponse(timestamp: 42))
        _ = try session.handle(ProtocolControl.windowAcknowledgementSize(1000))
        XCTAssertTrue(session.acknowledgements(totalReceived: 999).isEmpty)
        guard case .send(let ack) = session.acknowledgements(totalReceived: 1500).first else { return XCTFail() }
        XCTAssertEqual(ack.type, .acknowledgement)
        XCTAssertEqual(ack.payload.getInteger(at: 0, as: UInt32.self), 1500)
    }

    func testMalformedCommandIsAProtocolError() {
        var session = session()
        let garbage = RTMPMessage(typeID: 20, streamID: 0, timestamp: 0, payload: ByteBuffer(bytes: [0x02, 0x00, 0x10, 0x41]), chunkStreamID: 3)
        XCTAssertThrowsError(try session.handle(garbage))
    }
}

final class PlaypathTests: XCTestCase {
    func testFMSPlaypathRules() {
        XCTAssertEqual(Playpath("mediafile.flv"), Playpath(container: .flv, keys: ["mediafile.flv"]))
        XCTAssertEqual(Playpath("mediafile"), Playpath(container: .flv, keys: ["mediafile.flv"]))
        XCTAssertEqual(Playpath("videos/mediafile.flv"), Playpath(container: .flv, keys: ["videos/mediafile.flv"]))
        XCTAssertEqual(Playpath("mp4:magicvideo.mp4"), Playpath(container: .mp4, keys: ["magicvideo.mp4"]))
        XCTAssertEqual(Playpath("mp4:magicvideo"), Playpath(container: .mp4, keys: ["magicvideo.mp4", "magicvideo.f4v", "magicvideo.m4v", "magicvideo.mov"]))
        XCTAssertEqual(Playpath("mp4:dir/clip.f4v"), Playpath(container: .mp4, keys: ["dir/clip.f4v"]))
        XCTAssertEqual(Playpath("mp3:song"), Playpath(container: .mp3, keys: ["song.mp3"]))
        XCTAssertEqual(Playpath("mp3:song.mp3"), Playpath(container: .mp3, keys: ["song.mp3"]))
        XCTAssertEqual(Playpath("clip.flv?token=abc"), Playpath(container: .flv, keys: ["clip.flv"]))
        XCTAssertEqual(Playpath("clip.v2"), Playpath(container: .flv, keys: ["clip.v2.flv"]))
    }

    func testNamesThatEscapeTheBucketAreRefused() {
        for name in ["../secret.flv", "videos/../../x", "/etc/passwd", "a\0b", "mp4:../x", "", "mp3:", "a//b", "./x", "a\\b"] {
            XCTAssertNil(Playpath(name), name)
        }
    }
}

extension Playpath {
    init(container: MediaContainer, keys: [String]) {
        self = Playpath("x")!
        self.container = container
        self.candidateKeys = keys
    }
}

final class TcURLTests: XCTestCase {
    func testParsing() {
        let url = TcURL("rtmp://S5C39GQB8OW64R.cloudfront.net:1935/cfx/st?x=1")
        XCTAssertEqual(url?.host, "s5c39gqb8ow64r.cloudfront.net")
        XCTAssertEqual(url?.port, 1935)
        XCTAssertEqual(url?.application, "cfx/st")
        XCTAssertEqual(TcURL("rtmpte://[::1]/cfx/st/")?.host, "::1")
        XCTAssertEqual(TcURL("rtmpt://host")?.application, "")
        XCTAssertNil(TcURL("rtmp://host:0/cfx"))
        XCTAssertNil(TcURL("rtmp://ho st/cfx"))
    }
}
