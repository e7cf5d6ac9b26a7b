import NIOCore
@testable import SluiceRTMP
import XCTest

/// The handshake against digests computed independently (Python's hmac module, over the
/// keys published in librtmp's handshake.h); FFmpeg's client checks our S1/S2 for real in
/// the integration tests.
final class HandshakeTests: XCTestCase {
    /// A C1 whose bytes are (i * 7 + 3) % 256, time 0, version 9.0.124.2, signed by scheme 1.
    func referenceC1() -> [UInt8] {
        var c1 = (0..<1536).map { UInt8(($0 * 7 + 3) % 256) }
        c1.replaceSubrange(0..<8, with: [0, 0, 0, 0, 9, 0, 124, 2])
        return c1
    }

    func hex(_ string: String) -> [UInt8] {
        stride(from: 0, to: string.count, by: 2).map {
            UInt8(string[string.index(string.startIndex, offsetBy: $0)..<string.index(string.startIndex, offsetBy: $0 + 2)], radix: 16)!
        }
    }

    func testDigestMatchesIndependentComputation() {
        var c1 = referenceC1()
        XCTAssertEqual(HandshakeDigest.Scheme.one.digestOffset(in: c1), 290)
        XCTAssertEqual(HandshakeDigest.Scheme.two.digestOffset(in: c1), 942)
        HandshakeDigest.sign(&c1, scheme: .one, key: HandshakeDigest.playerKeyShort)
        XCTAssertEqual(Array(c1[290..<322]), hex("612af37c38c4a1b74e5737fc4021ded17ed92a9431c19bc665cf421131bad8a6"))
        XCTAssertEqual(HandshakeDigest.clientScheme(of: c1), .one)

        let random = (0..<1536).map { UInt8(($0 * 13 + 5) % 256) }
        let s2 = HandshakeDigest.makeS2(clientDigest: Array(c1[290..<322]), random: random)
        XCTAssertEqual(Array(s2[1504...]), hex("21eb68d3452b5d3201ef461b0870023a878d440a1806c32e2b2845d532b6714c"))
        XCTAssertEqual(Array(s2[..<1504]), Array(random[..<1504]))
    }

    func testBothSchemesAreRecognised() {
        for scheme in HandshakeDigest.Scheme.allCases {
            var c1 = referenceC1()
            c1[4] = scheme == .two ? 10 : 9
            HandshakeDigest.sign(&c1, scheme: scheme, key: HandshakeDigest.playerKeyShort)
            XCTAssertEqual(HandshakeDigest.clientScheme(of: c1), scheme)
        }
        XCTAssertNil(HandshakeDigest.clientScheme(of: referenceC1()))  // unsigned
    }

    func testServerSignsS1AndS2AsFMSForADigestClient() throws {
        var c1 = referenceC1()
        HandshakeDigest.sign(&c1, scheme: .one, key: HandshakeDigest.playerKeyShort)
        var handshake = ServerHandshake()
        guard case .send(let reply) = try handshake.feed(ByteBuffer(bytes: [3] + c1)) else { return XCTFail("no reply") }
        XCTAssertEqual(handshake.kind, .digest(.one))
        XCTAssertEqual(reply.count, 1 + 1536 * 2)
        XCTAssertEqual(reply[0], 3)
        let s1 = Array(reply[1...1536]), s2 = Array(reply[1537...])
        XCTAssertEqual(Array(s1[4..<8]), ServerHandshake.serverVersion)
        let offset = HandshakeDigest.Scheme.one.digestOffset(in: s1)
        XCTAssertEqual(HandshakeDigest.digest(of: s1, at: offset, key: HandshakeDigest.serverKeyShort)[...], s1[offset..<offset + 32])
        XCTAssertTrue(HandshakeDigest.verifyResponse(s2, answering: Array(c1[290..<322]), fullKey: HandshakeDigest.serverKey))

        // C2 plus the first chunk bytes in the same read: the extra bytes are handed on.
        guard case .complete(let leftover) = try handshake.feed(ByteBuffer(bytes: s1 + [0x03, 0x00])) else { return XCTFail("not complete") }
        XCTAssertEqual(Array(buffer: leftover), [0x03, 0x00])
        XCTAssertEqual(handshake.state, .done)
    }

    func testSimpleHandshakeEchoesC1() throws {
        let c1 = (0..<1536).map { _ in UInt8.random(in: 0...255) }.enumerated().map { $0.offset >= 4 && $0.offset < 8 ? 0 : $0.element }
        var handshake = ServerHandshake()
        // C0 and C1 arriving in pieces.
        XCTAssertEqual(try handshake.feed(ByteBuffer(bytes: [3] + c1[..<700])), .needMoreData)
        guard case .send(let reply) = try handshake.feed(ByteBuffer(bytes: Array(c1[700...]))) else { return XCTFail("no reply") }
        XCTAssertEqual(handshake.kind, .simple)
        XCTAssertEqual(Array(reply[1537...]), c1)
        XCTAssertEqual(Array(reply[5...8]), [0, 0, 0, 0])
    }

    func testUnknownVersionsAreRefused() {
        for version: UInt8 in [6, 0x48, 0] {
            var handshake = ServerHandshake()
            XCTAssertThrowsError(try handshake.feed(ByteBuffer(bytes: [version] + Array(repeating: 0, count: 1536))))
        }
    }
}
