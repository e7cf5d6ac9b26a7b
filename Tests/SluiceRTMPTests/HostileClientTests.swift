import Foundation
import NIOCore
import SluiceMedia
import SluiceRTMP
import SluiceTestSupport
import XCTest

/// A running server given the numbers that used to end it: every play goes on, and so
/// does the next client.
final class HostileClientTests: XCTestCase {
    func testAbsurdNumbersInPlaySeekPauseAndDeleteStreamLeaveTheServerUp() async throws {
        let root = try await TestMedia.shared.bucketRoot([.flvIndexed])
        FileManager.default.createFile(atPath: root + "/media/empty.flv", contents: Data())
        let server = try await TestServer.start(bucketRoot: root)
        addTeardownBlock { await server.stop() }

        let hostile = try await RTMPTestClient.open(port: server.port)
        _ = try await hostile.connect(tcUrl: server.url)
        let stream = try await hostile.createStream()
        try await hostile.setBufferLength(streamID: stream, milliseconds: 1000)
        try await hostile.play(streamID: stream, "indexed.flv", start: 1e300, length: .nan)
        try await hostile.waitForStatus("NetStream.Play.Start")
        for value in [1e300, -1e300, .nan, .infinity, -.infinity, -1, Double(UInt64.max)] {
            try await hostile.seek(streamID: stream, milliseconds: value)
            try await hostile.pause(streamID: stream, true, milliseconds: value)
            try await hostile.pause(streamID: stream, false, milliseconds: value)
            try await hostile.play(streamID: stream, "indexed.flv", start: value, length: value)
            try await hostile.play(streamID: stream, "indexed.flv", start: 0, length: 0)
            try await hostile.send(command: RTMPCommand(name: "deleteStream", transactionID: 0, arguments: [.number(value)]))
        }
        // getStreamLength of an empty object: 0, as for a missing one.
        let length = try await hostile.call("getStreamLength", ["empty.flv"])
        XCTAssertEqual(length.name, "_result")
        XCTAssertEqual(length.arguments.first?.doubleValue, 0)
        let empty = try await hostile.createStream()
        try await hostile.play(streamID: empty, "empty.flv")
        let refusal = try await hostile.waitForStatus("NetStream.Play.StreamNotFound")
        XCTAssertEqual(refusal["level"], "error")
        XCTAssertFalse(hostile.isClosed, "absurd numbers are answered, not a reason to drop the client")
        await hostile.close()

        let good = try await RTMPTestClient.open(port: server.port)
        _ = try await good.connect(tcUrl: server.url)
        let goodStream = try await good.createStream()
        try await good.setBufferLength(streamID: goodStream, milliseconds: 36_000_000)
        try await good.play(streamID: goodStream, "indexed.flv")
        try await good.waitForStatus("NetStream.Play.Stop", timeout: 20)
        XCTAssertGreaterThan(good.mediaTags.filter { $0.type == .video }.count, 900)
        await good.close()
    }
}
