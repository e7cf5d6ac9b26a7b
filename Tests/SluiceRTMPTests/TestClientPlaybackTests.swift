import Foundation
import NIOCore
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

    /// Connects, creates a stream, announces a buffer length and plays `name`.
    private func playing(_ name: String, buffer: UInt32, start: Double = -2000, length: Double = -1,
                         objectEncoding: Double = 0) async throws -> (RTMPTestClient, UInt32) {
        let client = try await connectedClient(objectEncoding: objectEncoding)
        let stream = try await client.createStream(amf3: objectEncoding == 3)
        try await client.setBufferLength(streamID: stream, milliseconds: buffer)
        try await client.play(streamID: stream, name, start: start, length: length, amf3: objectEncoding == 3)
        return (client, stream)
    }

    func testPlayFromStartPositionBeginsAtKeyframeAtOrBefore() async throws {
        let (client, _) = try await playing("indexed.flv", buffer: 36_000_000, start: 30000)
        try await client.waitForStatus("NetStream.Play.Stop", timeout: 20)
        let video = client.mediaTags.filter { $0.type == .video }
        XCTAssertTrue(video.first?.isSequenceHeader == true)
        let first = try XCTUnwrap(video.dropFirst().first)
        XCTAssertTrue(first.isKeyframe)
        XCTAssertLessThanOrEqual(first.timestamp, 30000)
        XCTAssertGreaterThan(first.timestamp, 27000)
        await client.close()
    }

    func testPlayMessagesComeInTheOrderFlashPlayersExpect() async throws {
        let (client, stream) = try await playing("indexed", buffer: 36_000_000)
        try await client.waitForStatus("NetStream.Play.Stop", timeout: 20)
        var order: [String] = []
        for event in client.events {
            switch event {
            case .userControl(.streamIsRecorded): order.append("StreamIsRecorded")
            case .userControl(.streamBegin(let id)) where id == stream: order.append("StreamBegin")
            case .userControl(.streamEOF): order.append("StreamEOF")
            case .command(let command, _, _) where command.name == "onStatus":
                order.append(command.arguments.first?["code"]?.stringValue ?? "?")
            case .data(let values, _, _, _):
                order.append(values.first?.stringValue ?? "?")
            case .media(let tag, _):
                let name = tag.isSequenceHeader ? (tag.type == .video ? "AVCSequenceHeader" : "AACSequenceHeader") : "media"
                if order.last != name || name != "media" { order.append(name) }
            default: break
            }
        }
        XCTAssertEqual(order, [
            "StreamIsRecorded", "StreamBegin", "NetStream.Play.Reset", "NetStream.Play.Start", "|RtmpSampleAccess",
            "onMetaData", "AVCSequenceHeader", "AACSequenceHeader", "media", "onPlayStatus", "StreamEOF", "NetStream.Play.Stop",
        ])
        let metadata = client.events.compactMap { event -> AMFObject? in
            if case .data(let values, _, _, _) = event, values.first == "onMetaData" { return values.dropFirst().first?.objectValue }
            return nil
        }.first
        for key in ["duration", "width", "height", "videocodecid", "audiocodecid", "videodatarate", "audiodatarate"] {
            XCTAssertNotNil(metadata?[key], key)
        }
        let complete = try await client.waitForStatus("NetStream.Play.Complete")
        XCTAssertGreaterThan(complete["bytes"]?.doubleValue ?? 0, 500_000)
        await client.close()
    }

    func testSeekResendsSequenceHeadersAndStartsAtKeyframe() async throws {
        let (client, stream) = try await playing("plain.flv", buffer: 2000)
        try await client.waitFor("media") { if case .media = $0 { return true } else { return false } }
        let mark = client.events.count
        try await client.seek(streamID: stream, milliseconds: 21_500)
        try await client.waitForStatus("NetStream.Seek.Notify", after: mark)
        // Tags already in flight when the seek arrived come before Seek.Notify; look after it.
        let notify = client.events.indices.first { $0 >= mark && client.events[$0].statusCode == "NetStream.Seek.Notify" }!
        try await client.waitFor("media after seek", after: notify) { event in
            if case .media(let tag, _) = event, tag.type == .video, !tag.isSequenceHeader { return true }
            return false
        }
        let after = Array(client.events[notify...])
        let codes = after.compactMap(\.statusCode)
        XCTAssertEqual(Array(codes.prefix(2)), ["NetStream.Seek.Notify", "NetStream.Play.Start"])
        let media = after.compactMap { event -> MediaTag? in if case .media(let tag, _) = event { return tag } else { return nil } }
        XCTAssertTrue(media.first?.isSequenceHeader == true, "sequence headers first after a seek")
        let frame = try XCTUnwrap(media.first { $0.type == .video && !$0.isSequenceHeader })
        XCTAssertTrue(frame.isKeyframe)
        // Keyframes every 2 s (+23 ms start offset in FFmpeg's output): 20.023 is the last at or before 21.5.
        XCTAssertEqual(frame.timestamp, 20023)
        await client.close()
    }

    func testAMF3ClientPlays() async throws {
        let (client, _) = try await playing("mp3:song", buffer: 36_000_000, objectEncoding: 3)
        try await client.waitForStatus("NetStream.Play.Stop", timeout: 20)
        let statusTypes = client.events.compactMap { event -> UInt8? in
            if case .command(let command, _, let type) = event, command.name == "onStatus" { return type }
            return nil
        }
        XCTAssertFalse(statusTypes.isEmpty)
        XCTAssertTrue(statusTypes.allSatisfy { $0 == RTMPMessageType.commandAMF3.rawValue })
        XCTAssertGreaterThan(client.mediaTags.count, 1000)
        XCTAssertTrue(client.mediaTags.allSatisfy { $0.type == .audio && $0.payload[0] >> 4 == 2 })
        await client.close()
    }

    func testGetStreamLengthErrorsAndRefusals() async throws {
        let client = try await connectedClient(digest: true)
        XCTAssertTrue(client.serverDigestVerified, "S1/S2 must verify as Flash Media Server's")
        let length = try await client.call("getStreamLength", ["mp4:moov-end"])
        XCTAssertEqual(length.name, "_result")
        XCTAssertEqual(length.arguments.first?.doubleValue ?? 0, 30, accuracy: 0.1)
        let unknown = try await client.call("noSuchMethod", ["x"])
        XCTAssertEqual(unknown.name, "_error")
        XCTAssertEqual(unknown.arguments.first?["description"]?.stringValue, "Method not found (noSuchMethod).")
        let fcPublish = try await client.call("FCPublish", ["live"])
        XCTAssertEqual(fcPublish.name, "_error")
        let stream = try await client.createStream()
        try await client.send(command: RTMPCommand(name: "publish", transactionID: 0, arguments: ["live", "live"]), streamID: stream)
        let refusal = try await client.waitForStatus("NetStream.Publish.BadName")
        XCTAssertEqual(refusal["level"], "error")
        try await client.play(streamID: stream, "missing.flv")
        let notFound = try await client.waitForStatus("NetStream.Play.StreamNotFound")
        XCTAssertEqual(notFound["level"], "error")
        // The connection is still usable after all that.
        let again = try await client.call("createStream")
        XCTAssertEqual(again.name, "_result")
        await client.close()
    }

    func testPlayLengthStopsEarly() async throws {
        let (client, _) = try await playing("indexed.flv", buffer: 36_000_000, start: 10_000, length: 5000)
        try await client.waitForStatus("NetStream.Play.Stop")
        let media = client.mediaTags.filter { !$0.isSequenceHeader }
        // From the last keyframe at or before 10 s, to 10 s + 5 s.
        XCTAssertEqual(media.first?.timestamp, 8023)
        XCTAssertLessThanOrEqual(media.last?.timestamp ?? .max, 15000)
        XCTAssertGreaterThan(media.last?.timestamp ?? 0, 14500)
        await client.close()
    }

    func testMalformedInputClosesOnlyThatConnection() async throws {
        let player = try await connectedClient()
        let stream = try await player.createStream()
        try await player.setBufferLength(streamID: stream, milliseconds: 1000)
        try await player.play(streamID: stream, "indexed.flv")
        try await player.waitForStatus("NetStream.Play.Start")

        // A malformed AMF value in a command.
        let bad = try await connectedClient()
        try await bad.send(RTMPMessage(typeID: 20, streamID: 0, timestamp: 0, payload: ByteBuffer(bytes: [0x02, 0x00, 0x07, 0x63, 0x6F, 0x6E, 0x6E, 0x65, 0x63, 0x74, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0xFF]), chunkStreamID: 3))
        try await bad.waitForClose()

        // A command without a name, and a chunk size beyond the cap, straight after the handshake.
        for message in [
            RTMPMessage(typeID: 20, streamID: 0, timestamp: 0, payload: ByteBuffer(bytes: [0x05]), chunkStreamID: 3),
            RTMPMessage(typeID: 1, streamID: 0, timestamp: 0, payload: ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF]), chunkStreamID: 2),
        ] {
            let raw = try await RTMPTestClient.open(port: server.port)
            try await raw.send(message)
            try await raw.waitForClose()
        }

        // The player was not disturbed.
        let before = player.mediaTags.count
        try await Task.sleep(for: .milliseconds(1200))
        XCTAssertFalse(player.isClosed)
        XCTAssertGreaterThan(player.mediaTags.count, before)
        XCTAssertGreaterThan(server.server.connectionCount, 0)
        await player.close()
    }

    func testReceiveVideoOffThenOnResumesAtAKeyframe() async throws {
        let (client, stream) = try await playing("indexed.flv", buffer: 500)
        try await client.waitForStatus("NetStream.Play.Start")
        try await client.send(command: RTMPCommand(name: "receiveVideo", transactionID: 0, arguments: [false]), streamID: stream)
        try await Task.sleep(for: .milliseconds(300))
        let mark = client.events.count
        try await Task.sleep(for: .milliseconds(1200))
        let offWindow = client.events.dropFirst(mark).compactMap { event -> MediaTag? in if case .media(let tag, _) = event { return tag } else { return nil } }
        XCTAssertTrue(offWindow.contains { $0.type == .audio }, "audio keeps flowing")
        XCTAssertFalse(offWindow.contains { $0.type == .video }, "no video while receiveVideo is false")
        let onMark = client.events.count
        try await client.send(command: RTMPCommand(name: "receiveVideo", transactionID: 0, arguments: [true]), streamID: stream)
        let firstVideo = try await client.waitFor("video again", timeout: 5, after: onMark) { event in
            if case .media(let tag, _) = event, tag.type == .video { return true }
            return false
        }
        guard case .media(let tag, _) = firstVideo else { return XCTFail() }
        XCTAssertTrue(tag.isKeyframe, "video resumes at a keyframe")
        await client.close()
    }

    func testPlayWithoutResetAppendsToAPlaylist() async throws {
        let client = try await connectedClient()
        let stream = try await client.createStream()
        // Paced, so the first item is still playing when the second is queued.
        try await client.setBufferLength(streamID: stream, milliseconds: 500)
        try await client.play(streamID: stream, "indexed.flv", start: 38_000)
        try await client.play(streamID: stream, "mp3:song", start: 0, length: 2000, reset: false)
        try await client.waitForStatus("NetStream.Play.Stop", timeout: 20)
        let codes = client.statusCodes
        XCTAssertEqual(codes.filter { $0 == "NetStream.Play.Reset" }.count, 1)
        XCTAssertEqual(codes.filter { $0 == "NetStream.Play.Start" }.count, 2)
        XCTAssertEqual(codes.filter { $0 == "NetStream.Play.Switch" }.count, 1)
        XCTAssertEqual(codes.filter { $0 == "NetStream.Play.Complete" }.count, 1)
        XCTAssertEqual(codes.last, "NetStream.Play.Stop")
        // The second item continues the timeline: its audio starts where the first ended.
        let mp3 = client.mediaTags.filter { $0.type == .audio && $0.payload[0] >> 4 == 2 }
        let first = client.mediaTags.filter { !($0.type == .audio && $0.payload[0] >> 4 == 2) }
        XCTAssertGreaterThan(mp3.count, 50)
        XCTAssertGreaterThanOrEqual(mp3.first!.timestamp, first.map(\.timestamp).max()!)
        XCTAssertEqual(Double(mp3.last!.timestamp - mp3.first!.timestamp), 2000, accuracy: 60)
        await client.close()
    }
}
