import Foundation
import NIOCore
import SluiceFuzzTargets
import SluiceMedia
@testable import SluiceRTMP
import XCTest

/// Every number, size and length a client controls, at its empty, one-byte and extreme
/// values: each gets an answer or closes its one connection, and none reaches a trap.
final class HostileInputTests: XCTestCase {
    static let extremes: [Double] = [.nan, .infinity, -.infinity, 1e300, -1e300, -1, -0.0, 0, 0.5, 4_294_967_295, 4_294_967_296,
                                     Double(Int64.max), Double(UInt64.max), .leastNonzeroMagnitude, .greatestFiniteMagnitude]

    func testWireNumbersBecomeMillisecondsWithoutTrapping() {
        XCTAssertNil(WireNumber.milliseconds(.nan))
        XCTAssertNil(WireNumber.milliseconds(-1))
        XCTAssertNil(WireNumber.milliseconds(-.infinity))
        XCTAssertEqual(WireNumber.milliseconds(-0.0), 0)
        XCTAssertEqual(WireNumber.milliseconds(0), 0)
        XCTAssertEqual(WireNumber.milliseconds(1500.9), 1500)
        XCTAssertEqual(WireNumber.milliseconds(4_294_967_294), 4_294_967_294)
        XCTAssertEqual(WireNumber.milliseconds(1e300), .max)
        XCTAssertEqual(WireNumber.milliseconds(.infinity), .max)
        XCTAssertEqual(WireNumber.milliseconds(fromSeconds: 1e300), .max)
        XCTAssertEqual(WireNumber.milliseconds(fromSeconds: 2.5), 2500)
        XCTAssertNil(WireNumber.streamID(.nan))
        XCTAssertNil(WireNumber.streamID(1.5))
        XCTAssertNil(WireNumber.streamID(-1))
        XCTAssertNil(WireNumber.streamID(1e300))
        XCTAssertEqual(WireNumber.streamID(7), 7)
    }

    func session() throws -> RTMPSession {
        var session = RTMPSession(router: SingleBucketRouter(bucket: "media"), clientID: "c1")
        _ = try session.handle(command("connect", 1, object: .object(["app": "cfx/st", "tcUrl": "rtmp://127.0.0.1/cfx/st"])))
        _ = try session.handle(command("createStream", 2))
        return session
    }

    func command(_ name: String, _ transaction: Double = 0, object: AMFValue = .null, _ arguments: [AMFValue] = [], stream: UInt32 = 0) -> RTMPMessage {
        RTMPCommand(name: name, transactionID: transaction, commandObject: object, arguments: arguments).message(streamID: stream, chunkStreamID: 3)
    }

    func testSeekPauseAndPlayTakeAnyNumber() throws {
        for value in Self.extremes {
            var session = try session()
            let expected = WireNumber.milliseconds(value)
            guard case .seek(1, let seekTo)? = try session.handle(command("seek", 0, [.number(value)], stream: 1)).first else {
                return XCTFail("seek \(value)")
            }
            XCTAssertEqual(seekTo, expected ?? 0, "seek \(value)")
            guard case .pause(1, true, let pauseAt)? = try session.handle(command("pause", 0, [true, .number(value)], stream: 1)).first else {
                return XCTFail("pause \(value)")
            }
            XCTAssertEqual(pauseAt, expected ?? 0, "pause \(value)")
            guard case .play(let request)? = try session.handle(command("play", 0, ["clip", .number(value), .number(value)], stream: 1)).first else {
                return XCTFail("play \(value)")
            }
            XCTAssertEqual(request.start, expected, "play start \(value)")
            XCTAssertEqual(request.length, expected, "play len \(value)")
            let play2 = AMFValue.object(["streamName": "clip", "start": .number(value), "len": .number(value), "offset": .number(value),
                                         "transition": "switch"])
            guard case .play2(let second)? = try session.handle(command("play2", 0, [play2], stream: 1)).first else {
                return XCTFail("play2 \(value)")
            }
            XCTAssertEqual(second.start, WireNumber.milliseconds(fromSeconds: value), "play2 start \(value)")
            XCTAssertEqual(second.length, WireNumber.milliseconds(fromSeconds: value), "play2 len \(value)")
            XCTAssertEqual(second.offset, WireNumber.milliseconds(fromSeconds: value), "play2 offset \(value)")
            // deleteStream of a number that names no stream deletes nothing.
            let deleted = try session.handle(command("deleteStream", 3, [.number(value)]))
            XCTAssertEqual(deleted.count, value == 1 ? 1 : 0, "deleteStream \(value)")
        }
    }

    func testStreamIDsWrapWithoutTrapping() throws {
        var session = try session()  // stream 1 exists
        session.nextStreamID = .max
        var ids: [Double] = []
        for transaction in 0..<3 {
            let actions = try session.handle(command("createStream", Double(10 + transaction)))
            guard case .send(let reply)? = actions.first, let id = try RTMPCommand.decode(reply).arguments.first?.doubleValue else {
                return XCTFail("\(actions)")
            }
            ids.append(id)
        }
        XCTAssertEqual(ids, [Double(UInt32.max), 2, 3], "0 and the stream in use are skipped")
    }

    func testBufferLengthsAreKeptOnlyForStreamsThatExist() throws {
        var session = try session()
        let unknown = try session.handle(ProtocolControl.userControl(.setBufferLength(streamID: 99, milliseconds: 1000)))
        XCTAssertTrue(unknown.isEmpty)
        let known = try session.handle(ProtocolControl.userControl(.setBufferLength(streamID: 1, milliseconds: 1000)))
        guard case .setBufferLength(1, 1000)? = known.first else { return XCTFail("\(known)") }
    }

    // MARK: Chunks

    func chunked(_ bytes: [UInt8]) -> ChunkDecoder {
        var decoder = ChunkDecoder()
        decoder.feed(ByteBuffer(bytes: bytes))
        return decoder
    }

    func setChunkSize(_ value: UInt32) -> [UInt8] {
        [0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    func testSetChunkSizeOfZeroOrBeyondTheLimitIsRefused() {
        for value: UInt32 in [0, 0x8000_0000, 0x7FFF_FFFF, 65537, .max] {
            var decoder = chunked(setChunkSize(value))
            XCTAssertThrowsError(try decoder.nextMessage(), "\(value)") { error in
                guard case .invalidChunkSize = error as? RTMPProtocolError else { return XCTFail("\(error)") }
            }
        }
        var decoder = chunked(setChunkSize(1))
        XCTAssertNotNil(try decoder.nextMessage())
        XCTAssertEqual(decoder.chunkSize, 1)
    }

    func testAnExtendedTimestampOnTheFirstChunkIsRead() throws {
        // Format 0, timestamp field 0xFFFFFF, then the real timestamp after the header.
        var decoder = chunked([0x03, 0xFF, 0xFF, 0xFF, 0, 0, 1, 20, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0x05])
        let message = try XCTUnwrap(try decoder.nextMessage())
        XCTAssertEqual(message.timestamp, 0x1234_5678)
        XCTAssertEqual(message.payload.readableBytes, 1)
    }

    func testASixteenMegabyteMessageIsRefusedBeforeItsBytesArrive() {
        var decoder = chunked([0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 20, 0, 0, 0, 0])
        XCTAssertThrowsError(try decoder.nextMessage()) { error in
            XCTAssertEqual(error as? RTMPProtocolError, .messageTooLarge(length: 0xFF_FFFF, limit: 1 << 20))
        }
    }

    func testUnfinishedMessagesOnManyChunkStreamsAreBounded() {
        // A 1 MB message started on each chunk stream, one 128-byte chunk at a time.
        var decoder = ChunkDecoder()
        var refused: RTMPProtocolError?
        for stream in 3..<63 {
            decoder.feed(ByteBuffer(bytes: [UInt8(stream), 0, 0, 0, 0x10, 0, 0, 20, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 128)))
            do {
                _ = try decoder.nextMessage()
            } catch {
                refused = error
                break
            }
        }
        XCTAssertNil(refused, "60 chunk streams are within the limit")
        XCTAssertLessThanOrEqual(decoder.bufferedBytes, 60 * 128)
        var tight = ChunkDecoder(limits: .init(maximumChunkStreams: 4))
        for stream in 3..<8 {
            tight.feed(ByteBuffer(bytes: [UInt8(stream), 0, 0, 0, 0, 0, 1, 20, 0, 0, 0, 0, 5]))
        }
        XCTAssertThrowsError(try { while try tight.nextMessage() != nil {} }()) { error in
            XCTAssertEqual(error as? RTMPProtocolError, .tooManyChunkStreams(limit: 4))
        }
        var small = ChunkDecoder(limits: .init(maximumMessageSize: 4096, maximumBufferedBytes: 300))
        for stream in 3..<6 {
            small.feed(ByteBuffer(bytes: [UInt8(stream), 0, 0, 0, 0, 0x10, 0, 20, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 128)))
        }
        XCTAssertThrowsError(try { while try small.nextMessage() != nil {} }()) { error in
            guard case .tooMuchBuffered = error as? RTMPProtocolError else { return XCTFail("\(error)") }
        }
    }

    func testAMFLengthsLargerThanTheMessageAreErrors() {
        // A string of 65,535 bytes announced in 3; an array of 4 billion elements in 5.
        XCTAssertThrowsError(try AMF0.decodeAll([0x02, 0xFF, 0xFF, 0x61]))
        XCTAssertThrowsError(try AMF0.decodeAll([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05]))
        XCTAssertThrowsError(try AMF0.decodeAll([0x0C, 0xFF, 0xFF, 0xFF, 0xFF]))
        XCTAssertThrowsError(try AMF3.decode([0x09, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]))
        XCTAssertThrowsError(try AMF3.decode([0x06, 0xFF, 0xFF, 0xFF, 0xFF]))
        XCTAssertThrowsError(try AMF0.decode([]))
        XCTAssertEqual(try AMF0.decodeAll([]), [])
    }

    // MARK: Playback

    func playback(_ name: String, length: UInt32? = nil) throws -> VODPlayback {
        let resolver = MediaResolver(library: FolderMediaLibrary(root: SampleMedia.bucketRoot))
        guard case .success(let opened)? = resolver.open(name, route: StreamRoute(bucket: "media")) else {
            XCTFail("cannot open \(name)")
            throw RTMPProtocolError.malformedMessage("no sample media")
        }
        return VODPlayback(streamID: 1, name: name, reader: opened.reader, clientID: "c1", amf3: false, bufferLength: 1000, length: length)
    }

    /// Pumps to the end with a clock that jumps a minute per round; the tags sent.
    func playToTheEnd(_ playback: VODPlayback, encoder: inout ChunkEncoder) throws -> Int {
        var out = ByteBuffer()
        var now: UInt64 = 10_000
        for _ in 0..<1000 {
            let result = try playback.pump(now: now, budget: 1 << 20, encoder: &encoder, into: &out)
            if result == .finished { return out.readableBytes }
            now += 60_000
        }
        XCTFail("never finished")
        return out.readableBytes
    }

    func testSeeksAndStartsPastTheEndFinishTheStream() throws {
        for start: UInt32 in [0, 3999, 4000, 1_000_000, .max] {
            let clip = try playback("clip")
            var encoder = ChunkEncoder()
            var out = ByteBuffer()
            try clip.begin(start: start, reset: true, now: 0, encoder: &encoder, into: &out)
            _ = try playToTheEnd(clip, encoder: &encoder)
            XCTAssertTrue(clip.isFinished, "start \(start)")
            let again = try playback("clip")
            try again.begin(start: nil, reset: true, now: 0, encoder: &encoder, into: &out)
            try again.seek(to: start, now: 1, encoder: &encoder, into: &out)
            _ = try playToTheEnd(again, encoder: &encoder)
            XCTAssertTrue(again.isFinished, "seek \(start)")
        }
    }

    func testLengthZeroPlaysOnlyTheStartAndTheLongestLengthPlaysAll() throws {
        var encoder = ChunkEncoder()
        var out = ByteBuffer()
        let none = try playback("clip", length: 0)
        try none.begin(start: 2000, reset: true, now: 0, encoder: &encoder, into: &out)
        _ = try playToTheEnd(none, encoder: &encoder)
        XCTAssertLessThanOrEqual(none.lastTimestamp, 2000)
        let all = try playback("clip", length: .max)
        try all.begin(start: nil, reset: true, now: 0, encoder: &encoder, into: &out)
        _ = try playToTheEnd(all, encoder: &encoder)
        XCTAssertEqual(all.lastTimestamp, 3960)
    }

    func testEmptyAndOneByteFilesAreNotPlayable() {
        let resolver = MediaResolver(library: FolderMediaLibrary(root: SampleMedia.bucketRoot))
        for name in ["empty.flv", "one.flv", "mp4:empty.mp4", "mp3:empty.mp3"] {
            guard case .failure(.unplayable)? = resolver.open(name, route: StreamRoute(bucket: "media")) else {
                return XCTFail("\(name) opened")
            }
        }
    }
}
