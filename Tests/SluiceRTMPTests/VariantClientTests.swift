import NIOCore
import SluiceMedia
import SluiceRTMP
import SluiceTestSupport
import XCTest

/// The project's own client over the variants no installed client covers with play2:
/// RTMPE types 8 and 9 (rtmpdump only asks for 6 and 8), RTMPT and RTMPTE on the HTTP
/// port. Each plays, then switches renditions with play2.
final class VariantClientTests: XCTestCase {
    func testPlay2SwitchesOverRTMPE() async throws {
        let root = try await TestMedia.shared.bucketRoot([.renditionHighFLV, .renditionLowFLV])
        let server = try await TestServer.start(bucketRoot: root)
        addTeardownBlock { await server.stop() }
        for type: UInt8 in [8, 9] {
            let client = try await RTMPTestClient.open(port: server.port, encryption: type)
            XCTAssertTrue(client.serverDigestVerified)
            try await playAndSwitch(client, tcUrl: server.url(scheme: "rtmpe"), label: "RTMPE type \(type)")
        }
    }

    func testPlay2SwitchesOverRTMPTAndRTMPTE() async throws {
        let root = try await TestMedia.shared.bucketRoot([.renditionHighFLV, .renditionLowFLV])
        let server = try await TestServer.start(bucketRoot: root, http: true)
        addTeardownBlock { await server.stop() }
        let httpPort = try XCTUnwrap(server.httpPort)
        for (scheme, encryption) in [("rtmpt", nil), ("rtmpte", UInt8(8)), ("rtmpte", UInt8(9))] as [(String, UInt8?)] {
            let client = try await RTMPTestClient.open(port: httpPort, encryption: encryption, tunnelHost: "127.0.0.1:\(httpPort)")
            try await playAndSwitch(client, tcUrl: "\(scheme)://127.0.0.1:\(httpPort)/cfx/st", label: "\(scheme) \(encryption.map(String.init) ?? "")")
            // Acknowledgements asked for only every 2 GB: over the tunnel each is a POST
            // whose answer can trip librtmp's buffer (see RTMPTunnel.tunnelled).
            XCTAssertEqual(announced(client), [.windowAcknowledgementSize: UInt32(Int32.max), .setPeerBandwidth: UInt32(Int32.max)])
        }
        let direct = try await RTMPTestClient.open(port: server.port)
        _ = try await direct.connect(tcUrl: server.url)
        XCTAssertEqual(announced(direct), [.windowAcknowledgementSize: 2_500_000, .setPeerBandwidth: 2_500_000], "TCP keeps the usual window")
        await direct.close()
    }

    private func announced(_ client: RTMPTestClient) -> [RTMPMessageType: UInt32] {
        var values: [RTMPMessageType: UInt32] = [:]
        for case .protocolControl(let type, let value) in client.events where type == .windowAcknowledgementSize || type == .setPeerBandwidth {
            values[type] = value
        }
        return values
    }

    /// A tunnelled connect routes by the requests' Host when its tcUrl holds an address.
    func testATunnelRoutesByItsHostHeader() async throws {
        let root = try await TestMedia.shared.bucketRoot([.renditionHighFLV, .renditionLowFLV])
        let router = DistributionRouter(RoutingTable(hosts: ["s1.sluice.localhost": .streaming(bucket: "media")], defaultBucket: nil))
        let server = try await TestServer.start(bucketRoot: root, router: router, http: true)
        addTeardownBlock { await server.stop() }
        let httpPort = try XCTUnwrap(server.httpPort)
        let tcUrl = "rtmpt://127.0.0.1:\(httpPort)/cfx/st"
        let routed = try await RTMPTestClient.open(port: httpPort, tunnelHost: "s1.sluice.localhost:\(httpPort)")
        try await playAndSwitch(routed, tcUrl: tcUrl, label: "Host s1.sluice.localhost")
        let unknown = try await RTMPTestClient.open(port: httpPort, tunnelHost: "s9.sluice.localhost")
        let refused = try await unknown.connect(tcUrl: tcUrl)
        XCTAssertEqual(refused.name, "_error")
        XCTAssertEqual(refused.arguments.first?.objectValue?["code"]?.stringValue, "NetConnection.Connect.Rejected")
        XCTAssertTrue(refused.arguments.first?.objectValue?["description"]?.stringValue?.contains("DistributionNotFound") == true,
                      "\(refused.arguments)")
        await unknown.close()
    }

    private func playAndSwitch(_ client: RTMPTestClient, tcUrl: String, label: String) async throws {
        let connected = try await client.connect(tcUrl: tcUrl)
        XCTAssertEqual(connected.name, "_result", label)
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
        XCTAssertGreaterThan(frames.count, 10, "\(label): video arrived and decoded")
        XCTAssertEqual(frames.map(\.timestamp), frames.map(\.timestamp).sorted(), "\(label): the timeline went back")
        await client.close()
    }
}
