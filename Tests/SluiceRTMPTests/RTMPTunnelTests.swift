import NIOCore
import SluiceRTMP
import SluiceTestSupport
import XCTest

/// RTMPT's sessions without HTTP: the commands a path names, a session's answers (the
/// polling byte, then RTMP bytes), and what is refused. rtmpdump and ffprobe use the
/// tunnel for real in the CLI tests.
final class RTMPTunnelTests: XCTestCase {
    func testPathsNameTheCommands() {
        XCTAssertEqual(RTMPTunnel.Command(path: "/open/1"), .open)
        XCTAssertEqual(RTMPTunnel.Command(path: "/fcs/ident2"), .ident)
        XCTAssertEqual(RTMPTunnel.Command(path: "/send/ab12/7"), .send(session: "ab12"))
        XCTAssertEqual(RTMPTunnel.Command(path: "/idle/ab12/8"), .idle(session: "ab12"))
        XCTAssertEqual(RTMPTunnel.Command(path: "/close/ab12/9"), .close(session: "ab12"))
        for other in ["/", "/open", "/send/ab12", "/idle/a/b/c", "/crossdomain.xml", "/fcs/other"] {
            XCTAssertNil(RTMPTunnel.Command(path: other), other)
        }
    }

    func testASessionCarriesTheHandshakeAndBelongsToItsClient() async throws {
        let root = try await TestMedia.shared.bucketRoot([.shortFLV])
        let server = try await TestServer.start(bucketRoot: root)
        addTeardownBlock { await server.stop() }
        let tunnel = server.server.makeTunnel()
        let maybeOpened = await tunnel.handle(.open, body: ByteBuffer(), peer: "192.0.2.7")
        let opened = try XCTUnwrap(maybeOpened)
        let line = String(buffer: opened)
        XCTAssertTrue(line.hasSuffix("\n"), line)
        let id = String(line.dropLast())
        XCTAssertEqual(tunnel.sessionCount, 1)

        // C0 C1 in a send: the answer is the polling byte, then S0 S1 S2.
        let c0c1 = [3] + [UInt8](repeating: 0, count: 1536)
        let maybeAnswer = await tunnel.handle(.send(session: id), body: ByteBuffer(bytes: c0c1), peer: "192.0.2.7")
        let answer = try XCTUnwrap(maybeAnswer)
        XCTAssertEqual(answer.readableBytes, 1 + 1 + 2 * 1536)
        XCTAssertEqual(answer.getInteger(at: answer.readerIndex, as: UInt8.self), 1)
        XCTAssertEqual(answer.getInteger(at: answer.readerIndex + 1, as: UInt8.self), 3)

        // Another address cannot use the session; an unknown one is unknown.
        let stranger = await tunnel.handle(.idle(session: id), body: ByteBuffer(), peer: "192.0.2.8")
        XCTAssertNil(stranger)
        let unknown = await tunnel.handle(.idle(session: "nope"), body: ByteBuffer(), peer: "192.0.2.7")
        XCTAssertNil(unknown)

        // Idle polls with nothing to send: the client is told to wait longer.
        var delays: [UInt8] = []
        for _ in 0..<21 {
            let maybeIdle = await tunnel.handle(.idle(session: id), body: ByteBuffer(), peer: "192.0.2.7")
            let idle = try XCTUnwrap(maybeIdle)
            XCTAssertEqual(idle.readableBytes, 1)
            delays.append(idle.getInteger(at: idle.readerIndex, as: UInt8.self) ?? 0)
        }
        XCTAssertEqual(delays.first, 1)
        XCTAssertEqual(delays.last, 4, "\(delays)")

        let maybeClosed = await tunnel.handle(.close(session: id), body: ByteBuffer(), peer: "192.0.2.7")
        let closed = try XCTUnwrap(maybeClosed)
        XCTAssertEqual(Array(closed.readableBytesView), [0])
        XCTAssertEqual(tunnel.sessionCount, 0)
        let afterClose = await tunnel.handle(.idle(session: id), body: ByteBuffer(), peer: "192.0.2.7")
        XCTAssertNil(afterClose)
    }
}
