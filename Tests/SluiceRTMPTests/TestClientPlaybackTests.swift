import Foundation
import SluiceMedia
import SluiceRTMP
import SluiceTestSupport
import XCTest

/// Server behaviour that no installed real client exercises, checked with the project's
/// own RTMP test client: exact message order, seek, pause, AMF3, errors, refusals.
final class TestClientPlaybackTests: XCTestCase {
    private var server: TestServer!

    override func setUp() async throws {
        let root = try await TestMedia.shared.bucketRoot([.flvIndexed, .flvPlain, .mp3, .mp4MoovAtEnd])
        server = try await TestServer.start(bucketRoot: root)
    }

    override func tearDown() async throws {
        await server.stop()
    }

    private func connectedClient(objectEncoding: Double = 0, digest: Bool = false) async throws -> RTMPTestClient {
        let client = try await RTMPTestClient.open(port: server.port, digestHandshake: digest)
        let reply = try await client.connect(tcUrl: server.url, objectEncoding: objectEncoding)
        XCTAssertEqual(reply.name, "_result")
        return client
    }

    func testPlayFromStartPositionBeginsAtKeyframeAtOrBefore() async throws {
        let client = try await connectedClient()
        let stream = try await client.createStream()
        try await client.setBufferLength(streamID: stream, milliseconds: 36_000_000)
        try await client.play(streamID: stream, "indexed.flv", start: 30000)
        try await client.waitForStatus("NetStream.Play.Stop", timeout: 20)
        let video = client.mediaTags.filter { $0.type == .video }
        XCTAssertTrue(video.first?.isSequenceHeader == true)
        let first = try XCTUnwrap(video.dropFirst().first)
        XCTAssertTrue(first.isKeyframe)
        XCTAssertLessThanOrEqual(first.timestamp, 30000)
        XCTAssertGreaterThan(first.timestamp, 27000)
        await client.close()
    }
}
