import NIOCore
@testable import SluiceStore
import XCTest

/// The form-upload parser: the same parts whatever the pieces the body arrives in, file
/// bytes passed on without waiting for the part's end, and hostile bodies refused.
final class MultipartFormParserTests: XCTestCase {
    static let lines: [String] = [
        "preamble to ignore\r\n",
        "--AaB03x\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nup/${filename}\r\n",
        "--AaB03x\r\n\r\nno headers\r\n",
        "--AaB03x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n",
        "data with \r\n--AaB03 almost a delimiter\r\n",
        "--AaB03x--\r\nepilogue to ignore",
    ]
    let body: [UInt8] = Array(MultipartFormParserTests.lines.joined().utf8)

    struct Part: Equatable {
        var headers: [MultipartFormParser.Header]
        var text: String
    }

    /// Parts as (headers, body) from feeding `bytes` in pieces of `size`.
    func parts(_ bytes: [UInt8], pieces size: Int) throws -> [Part] {
        var parser = try XCTUnwrap(MultipartFormParser(boundary: "AaB03x"))
        var parts: [Part] = []
        var current: ([MultipartFormParser.Header], [UInt8])?
        for start in stride(from: 0, to: bytes.count, by: size) {
            for event in try parser.feed(ByteBuffer(bytes: bytes[start..<min(start + size, bytes.count)])) {
                switch event {
                case .partStarted(let headers): current = (headers, [])
                case .body(let chunk): current?.1 += chunk.readableBytesView
                case .partEnded: parts.append(Part(headers: current?.0 ?? [], text: String(decoding: current?.1 ?? [], as: UTF8.self)))
                }
            }
        }
        XCTAssertTrue(parser.isFinished)
        return parts
    }

    func testTheSamePartsWhateverThePieces() throws {
        let whole = try parts(body, pieces: body.count)
        XCTAssertEqual(whole.map(\.text), ["up/${filename}", "no headers", "data with \r\n--AaB03 almost a delimiter"])
        XCTAssertEqual(whole[0].headers, [MultipartFormParser.Header(name: "Content-Disposition", value: "form-data; name=\"key\"")])
        XCTAssertEqual(whole[1].headers, [])
        XCTAssertEqual(whole[2].headers.map(\.name), ["Content-Disposition", "Content-Type"])
        for size in [1, 2, 3, 7, 13, 64] {
            XCTAssertEqual(try parts(body, pieces: size), whole, "pieces of \(size)")
        }
    }

    func testAFileStreamsBeforeItsPartEnds() throws {
        var parser = try XCTUnwrap(MultipartFormParser(boundary: "b"))
        _ = try parser.feed(ByteBuffer(string: "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n"))
        let events = try parser.feed(ByteBuffer(repeating: 0x41, count: 100_000))
        let passed = events.reduce(0) { if case .body(let bytes) = $1 { $0 + bytes.readableBytes } else { $0 } }
        XCTAssertGreaterThanOrEqual(passed, 100_000 - 4, "all but what could start a delimiter goes on at once")
    }

    func testHostileBodiesAreRefused() throws {
        XCTAssertNil(MultipartFormParser(boundary: ""))
        XCTAssertNil(MultipartFormParser(boundary: String(repeating: "x", count: 71)))
        var parser = try XCTUnwrap(MultipartFormParser(boundary: "b"))
        // A header name with bytes above 0x7F (what trapped MultipartKit 4.7.1).
        XCTAssertThrowsError(try parser.feed(ByteBuffer(bytes: Array("--b\r\n".utf8) + [0xC3, 0xA9, 0x3A, 0x20, 0x78, 13, 10, 13, 10])))
        parser = try XCTUnwrap(MultipartFormParser(boundary: "b"))
        XCTAssertThrowsError(try parser.feed(ByteBuffer(string: "--b\r\nX-Pad: " + String(repeating: "v", count: 20_000))),
                             "a header block over 16 KB")
        parser = try XCTUnwrap(MultipartFormParser(boundary: "b"))
        XCTAssertThrowsError(try parser.feed(ByteBuffer(string: "--bjunk\r\n")), "text after a delimiter")
    }
}
