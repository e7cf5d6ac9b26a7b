import Foundation
import NIOCore
import NIOPosix
import SluiceMedia
import SluiceRTMP
import SluiceTestSupport
import XCTest

/// Limits that keep one client from hurting the others.
final class LimitsTests: XCTestCase {
    /// Every event loop listens on the port with SO_REUSEPORT; a second server must still
    /// fail to bind it rather than silently take half of the connections.
    func testASecondServerCannotShareThePort() async throws {
        let root = try await TestMedia.shared.bucketRoot([])
        let first = try await TestServer.start(bucketRoot: root)
        defer { Task { await first.stop() } }
        do {
            let second = try await TestServer.start(bucketRoot: root) { $0.port = first.port }
            await second.stop()
            XCTFail("a second server bound port \(first.port)")
        } catch let error as IOError {
            XCTAssertEqual(error.errnoCode, EADDRINUSE)
        }
        let client = try await RTMPTestClient.open(port: first.port)
        let reply = try await client.connect(tcUrl: first.url)
        XCTAssertEqual(reply.name, "_result")
        await client.close()
    }

    func testConnectionsBeyondTheMaximumAreRefused() async throws {
        let root = try await TestMedia.shared.bucketRoot([])
        let server = try await TestServer.start(bucketRoot: root) { $0.maximumConnections = 2 }
        defer { Task { await server.stop() } }
        let first = try await RTMPTestClient.open(port: server.port)
        let second = try await RTMPTestClient.open(port: server.port)
        _ = try await first.connect(tcUrl: server.url)
        _ = try await second.connect(tcUrl: server.url)
        // The third is closed at once, before any handshake reply.
        do {
            let third = try await RTMPTestClient.open(port: server.port)
            try await third.waitForClose()
        } catch {
            // The close can also win the race with the handshake: refused either way.
        }
        XCTAssertEqual(server.server.connectionCount, 2)
        await first.close()
        try await Task.sleep(for: .milliseconds(200))
        let fourth = try await RTMPTestClient.open(port: server.port)
        let reply = try await fourth.connect(tcUrl: server.url)
        XCTAssertEqual(reply.name, "_result")
        await second.close()
        await fourth.close()
    }

    func testSilentAndStalledClientsAreDropped() async throws {
        let root = try await TestMedia.shared.bucketRoot([])
        let server = try await TestServer.start(bucketRoot: root) {
            $0.handshakeTimeout = 0.3
            $0.idleTimeout = 0.6
            $0.pingInterval = 0.2
        }
        defer { Task { await server.stop() } }
        // A TCP connection that never sends C0.
        let silent = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: server.port).get()
        try await Task.sleep(for: .milliseconds(1200))
        XCTAssertFalse(silent.isActive, "a client that never shakes hands must be dropped")

        // A connected client that answers pings stays; the test client answers them.
        let alive = try await RTMPTestClient.open(port: server.port)
        _ = try await alive.connect(tcUrl: server.url)
        try await Task.sleep(for: .milliseconds(1500))
        XCTAssertFalse(alive.isClosed, "a client answering pings must stay")
        XCTAssertTrue(alive.events.contains { if case .userControl(.pingRequest) = $0 { return true } else { return false } })
        await alive.close()
    }

    /// Sockets that connect and never shake hands take a handshake slot each, up to the
    /// cap; beyond it a connection is closed at once, and a finished handshake frees its
    /// slot.
    func testConnectionsStuckInTheHandshakeAreCapped() async throws {
        let root = try await TestMedia.shared.bucketRoot([])
        let server = try await TestServer.start(bucketRoot: root) { $0.maximumHandshakes = 2 }
        addTeardownBlock { await server.stop() }
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        let stuck = [try await bootstrap.connect(host: "127.0.0.1", port: server.port).get(),
                     try await bootstrap.connect(host: "127.0.0.1", port: server.port).get()]
        try await Task.sleep(for: .milliseconds(200))
        let refused = try await bootstrap.connect(host: "127.0.0.1", port: server.port).get()
        try await refused.closeFuture.get()
        XCTAssertTrue(stuck.allSatisfy(\.isActive), "the first two wait for their handshake timeout")
        for channel in stuck { try await channel.close() }
        try await Task.sleep(for: .milliseconds(200))
        // Handshaken clients do not count: several connect once the slots are free.
        var clients: [RTMPTestClient] = []
        for _ in 0..<4 {
            let client = try await RTMPTestClient.open(port: server.port)
            let reply = try await client.connect(tcUrl: server.url)
            XCTAssertEqual(reply.name, "_result")
            clients.append(client)
        }
        for client in clients { await client.close() }
    }

    /// Every connection's handler is freed once it closes, whether it played, was
    /// refused, or broke the protocol.
    func testClosedConnectionsLeaveNoHandlerBehind() async throws {
        let root = try await TestMedia.shared.bucketRoot([.flvIndexed])
        let server = try await TestServer.start(bucketRoot: root)
        addTeardownBlock { await server.stop() }
        let before = RTMPServer.handlersAlive
        for round in 0..<30 {
            let client = try await RTMPTestClient.open(port: server.port)
            _ = try await client.connect(tcUrl: server.url)
            if round % 3 == 0 {
                let stream = try await client.createStream()
                try await client.play(streamID: stream, "indexed.flv")
                try await client.waitForStatus("NetStream.Play.Start")
            } else if round % 3 == 1 {
                try await client.send(RTMPMessage(typeID: 20, streamID: 0, timestamp: 0, payload: ByteBuffer(bytes: [0x02, 0xFF]), chunkStreamID: 3))
                try await client.waitForClose()
            }
            await client.close()
        }
        var alive = RTMPServer.handlersAlive
        for _ in 0..<50 where alive > before {
            try await Task.sleep(for: .milliseconds(100))
            alive = RTMPServer.handlersAlive
        }
        XCTAssertLessThanOrEqual(alive, before, "handlers of closed connections are still alive")
    }
}
