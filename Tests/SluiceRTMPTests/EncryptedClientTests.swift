import NIOCore
import SluiceMedia
import SluiceRTMP
import SluiceTestSupport
import XCTest

/// The project's own client over RTMPE (types 8 and 9; rtmpdump only asks for 6/8):
/// a play, then a play2 switch between renditions, through RC4 both ways.
final class EncryptedClientTests: XCTestCase {
    func testPlay2SwitchesOverRTMPE() async throws {
        let root = try await TestMedia.shared.bucketRoot([.renditionHighFLV, .renditionLowFLV])
        let server = try await TestServer.start(bucketRoot: root)
        addTeardownBlock { await server.stop() }
        for type: UInt8 in [8, 9] {
            let client = try await RTMPTestClient.open(port: server.port, encryption: type)
            XCTAssertTrue(client.serverDigestVerified)
            let connected = try await client.connect(tcUrl: server.url(scheme: "rtmpe"))
            XCTAssertEqual(connected.name, "_result", "type \(type)")
            let stream = try await client.createStream()
            try await client.setBufferLength(streamID: stream, milliseconds: 2000)
            try await client.play(streamID: stream, "high.flv")
            _ = try await client.waitForStatus("NetStream.Play.Start")
            try await client.play2(streamID: stream, ["streamName": "low.flv", "oldStreamName": "high.flv", "transition": "switch"])
            _ = try await client.waitForStatus("NetStream.Play.Transition")
            _ = try await client.waitForStatus("NetStream.Play.TransitionComplete")
            let frames = client.events.compactMap { event -> MediaTag? in
                if case .media(let tag, _) = event, tag.type == .video, !tag.isSequenceHeader { return tag } else { return nil }
            }
            XCTAssertGreaterThan(frames.count, 10, "type \(type): video arrived and decoded")
            XCTAssertEqual(frames.map(\.timestamp), frames.map(\.timestamp).sorted(), "type \(type): the timeline went back")
            await client.close()
        }
    }
}
