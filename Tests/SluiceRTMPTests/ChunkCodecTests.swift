import NIOCore
@testable import SluiceRTMP
import XCTest

/// The chunk stream (RTMP specification 5.3) in both directions, without sockets.
final class ChunkCodecTests: XCTestCase {
    func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

    func message(_ type: UInt8, stream: UInt32 = 1, timestamp: UInt32, size: Int, chunkStream: UInt32 = 4, fill: UInt8 = 0xAB) -> RTMPMessage {
        RTMPMessage(typeID: type, streamID: stream, timestamp: timestamp, payload: ByteBuffer(bytes: Array(repeating: fill, count: size)), chunkStreamID: chunkStream)
    }

    func decodeAll(_ bytes: ByteBuffer, decoder: inout ChunkDecoder) throws -> [RTMPMessage] {
        decoder.feed(bytes)
        var messages: [RTMPMessage] = []
        while let message = try decoder.nextMessage() { messages.append(message) }
        return messages
    }

    func testEncoderPicksEachHeaderFormat() {
        var encoder = ChunkEncoder()
        var out = ByteBuffer()
        // Type 0: first message on the chunk stream.
        encoder.write(message(9, timestamp: 1000, size: 10), into: &out)
        XCTAssertEqual(out.readBytes(length: 12), [0x04, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x0A, 0x09, 0x01, 0x00, 0x00, 0x00])
        out.moveReaderIndex(forwardBy: 10)
        // After a type 0, a repeat uses type 2 (not 3: readers disagree on the delta there).
        encoder.write(message(9, timestamp: 1040, size: 10), into: &out)
        XCTAssertEqual(out.readBytes(length: 4), [0x84, 0x00, 0x00, 0x28])
        out.moveReaderIndex(forwardBy: 10)
        // Same delta, length and type: type 3, one byte.
        encoder.write(message(9, timestamp: 1080, size: 10), into: &out)
        XCTAssertEqual(out.readBytes(length: 1), [0xC4])
        out.moveReaderIndex(forwardBy: 10)
        // New length: type 1.
        encoder.write(message(9, timestamp: 1120, size: 7), into: &out)
        XCTAssertEqual(out.readBytes(length: 8), [0x44, 0x00, 0x00, 0x28, 0x00, 0x00, 0x07, 0x09])
        out.moveReaderIndex(forwardBy: 7)
        // Timestamp going back (a seek): type 0 again.
        encoder.write(message(9, timestamp: 0, size: 7), into: &out)
        XCTAssertEqual(out.readBytes(length: 1), [0x04])
    }

    func testLongMessagesAreSplitIntoChunksOfTheChunkSize() throws {
        var encoder = ChunkEncoder()
        var out = ByteBuffer()
        encoder.write(message(8, timestamp: 5, size: 300), into: &out)
        // 12-byte header + 128, then 1 + 128, then 1 + 44.
        XCTAssertEqual(out.readableBytes, 12 + 128 + 1 + 128 + 1 + 44)
        XCTAssertEqual(out.getInteger(at: 140, as: UInt8.self), 0xC4)
        var decoder = ChunkDecoder()
        let messages = try decodeAll(out, decoder: &decoder)
        XCTAssertEqual(messages.count, 1)
        XCTAssertEqual(messages[0].payload.readableBytes, 300)
        XCTAssertEqual(messages[0].timestamp, 5)
    }

    func testExtendedTimestampsInEveryChunk() throws {
        var encoder = ChunkEncoder()
        var out = ByteBuffer()
        let late: UInt32 = 0x0100_0000  // 4.6 hours: beyond 24 bits
        encoder.write(message(9, timestamp: late, size: 200), into: &out)
        XCTAssertEqual(out.getBytes(at: 1, length: 3), [0xFF, 0xFF, 0xFF])
        XCTAssertEqual(out.getBytes(at: 12, length: 4), [0x01, 0x00, 0x00, 0x00])
        // The continuation chunk repeats the extended timestamp.
        XCTAssertEqual(out.getBytes(at: 16 + 128, length: 5), [0xC4, 0x01, 0x00, 0x00, 0x00])
        encoder.write(message(9, timestamp: late + 40, size: 200), into: &out)
        var decoder = ChunkDecoder()
        let messages = try decodeAll(out, decoder: &decoder)
        XCTAssertEqual(messages.map(\.timestamp), [late, late + 40])
        XCTAssertEqual(messages.map(\.payload.readableBytes), [200, 200])
    }

    func testChunkStreamIDsInOneTwoAndThreeByteForms() throws {
        for id: UInt32 in [2, 63, 64, 319, 320, 65599] {
            var encoder = ChunkEncoder()
            var out = ByteBuffer()
            encoder.write(message(20, timestamp: 0, size: 3, chunkStream: id), into: &out)
            let expectedHeader = id < 64 ? 1 : id < 320 ? 2 : 3
            XCTAssertEqual(out.readableBytes, expectedHeader + 11 + 3, "\(id)")
            var decoder = ChunkDecoder()
            let messages = try decodeAll(out, decoder: &decoder)
            XCTAssertEqual(messages.first?.chunkStreamID, id)
        }
    }

    func testDecoderFollowsAllFourFormatsFromAPeer() throws {
        // Hand-built: type 0 (ts 100, len 4), type 1 (delta 10, len 2), type 2 (delta 5), type 3 (delta 5 again).
        var bytes: [UInt8] = [0x05, 0x00, 0x00, 0x64, 0x00, 0x00, 0x04, 0x14, 0x00, 0x00, 0x00, 0x00, 1, 2, 3, 4]
        bytes += [0x45, 0x00, 0x00, 0x0A, 0x00, 0x00, 0x02, 0x12, 5, 6]
        bytes += [0x85, 0x00, 0x00, 0x05, 7, 8]
        bytes += [0xC5, 9, 10]
        var decoder = ChunkDecoder()
        let messages = try decodeAll(buffer(bytes), decoder: &decoder)
        XCTAssertEqual(messages.map(\.timestamp), [100, 110, 115, 120])
        XCTAssertEqual(messages.map(\.typeID), [20, 18, 18, 18])
        XCTAssertEqual(messages.map { $0.payload.readableBytes }, [4, 2, 2, 2])
        XCTAssertEqual(messages[3].payload.getBytes(at: 0, length: 2), [9, 10])
    }

    func testDecoderAcceptsBytesOneAtATime() throws {
        var encoder = ChunkEncoder()
        var out = ByteBuffer()
        encoder.write(message(9, timestamp: 7, size: 500), into: &out)
        encoder.write(message(8, timestamp: 9, size: 3, chunkStream: 6), into: &out)
        var decoder = ChunkDecoder()
        var messages: [RTMPMessage] = []
        while let byte = out.readInteger(as: UInt8.self) {
            decoder.feed(ByteBuffer(bytes: [byte]))
            while let message = try decoder.nextMessage() { messages.append(message) }
        }
        XCTAssertEqual(messages.map(\.payload.readableBytes), [500, 3])
    }

    func testSetChunkSizeTakesEffectInTheMiddleOfAnotherMessage() throws {
        // A 300-byte message on chunk stream 3: its first chunk at 128, then Set Chunk Size
        // 4096 on chunk stream 2, then the remaining 172 bytes as one chunk.
        var bytes: [UInt8] = [0x03, 0, 0, 0, 0x00, 0x01, 0x2C, 0x14, 0, 0, 0, 0] + Array(repeating: 1, count: 128)
        bytes += [0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0, 0x00, 0x00, 0x10, 0x00]
        bytes += [0xC3] + Array(repeating: 2, count: 172)
        var decoder = ChunkDecoder()
        let messages = try decodeAll(buffer(bytes), decoder: &decoder)
        XCTAssertEqual(messages.map(\.typeID), [1, 20])
        XCTAssertEqual(decoder.chunkSize, 4096)
        XCTAssertEqual(messages[1].payload.readableBytes, 300)
        XCTAssertEqual(messages[1].payload.getBytes(at: 299, length: 1), [2])
    }

    func testAbortDropsThePartialMessage() throws {
        var bytes: [UInt8] = [0x03, 0, 0, 0, 0x00, 0x01, 0x00, 0x14, 0, 0, 0, 0] + Array(repeating: 1, count: 128)
        bytes += [0x02, 0, 0, 0, 0, 0, 4, 0x02, 0, 0, 0, 0, 0, 0, 0, 3]  // Abort chunk stream 3
        bytes += [0x03, 0, 0, 0, 0x00, 0x00, 0x02, 0x14, 0, 0, 0, 0, 7, 7]
        var decoder = ChunkDecoder()
        let messages = try decodeAll(buffer(bytes), decoder: &decoder)
        XCTAssertEqual(messages.map(\.typeID), [2, 20])
        XCTAssertEqual(messages[1].payload.readableBytes, 2)
    }

    func testHostileChunksAreRefused() {
        var decoder = ChunkDecoder()
        // Type 3 with no earlier header on that chunk stream.
        XCTAssertThrowsError(try decodeAll(buffer([0xC7, 1, 2]), decoder: &decoder))
        // A message larger than the limit.
        decoder = ChunkDecoder(limits: .init(maximumChunkSize: 65536, maximumMessageSize: 1000))
        XCTAssertThrowsError(try decodeAll(buffer([0x03, 0, 0, 0, 0x10, 0x00, 0x00, 0x14, 0, 0, 0, 0]), decoder: &decoder)) { error in
            XCTAssertEqual(error as? RTMPProtocolError, .messageTooLarge(length: 0x100000, limit: 1000))
        }
        // A chunk size beyond the cap, and a zero chunk size.
        for size: [UInt8] in [[0x7F, 0xFF, 0xFF, 0xFF], [0, 0, 0, 0]] {
            decoder = ChunkDecoder()
            XCTAssertThrowsError(try decodeAll(buffer([0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0] + size), decoder: &decoder))
        }
    }

    func testUserControlEventsRoundTrip() throws {
        let events: [UserControlEvent] = [
            .streamBegin(streamID: 1), .streamEOF(streamID: 1), .streamDry(streamID: 1),
            .setBufferLength(streamID: 1, milliseconds: 3000), .streamIsRecorded(streamID: 1),
            .pingRequest(timestamp: 99), .pingResponse(timestamp: 99), .bufferEmpty(streamID: 1), .bufferReady(streamID: 1),
        ]
        for event in events {
            XCTAssertEqual(try UserControlEvent.decode(event.encode()), event)
        }
        XCTAssertEqual(Array(buffer: UserControlEvent.setBufferLength(streamID: 1, milliseconds: 3000).encode()),
                       [0, 3, 0, 0, 0, 1, 0, 0, 0x0B, 0xB8])
        XCTAssertThrowsError(try UserControlEvent.decode(ByteBuffer(bytes: [0, 3, 0, 0])))
    }
}
