import NIOCore
@testable import SluiceRTMP
import XCTest

/// RTMPE handshakes of each type between the project's client and server halves (rtmpdump
/// checks the server for real in RealClientTests), and the ones that must fail.
final class RTMPEHandshakeTests: XCTestCase {
    /// Runs a whole handshake; returns both sides' ciphers after checking they talk.
    func handshake(type: UInt8, expecting answered: UInt8, file: StaticString = #filePath, line: UInt = #line) throws {
        var client = ClientHandshake(digest: true, encryption: type)
        var server = ServerHandshake()
        guard case .send(let reply) = try server.feed(ByteBuffer(bytes: client.c0c1)) else { return XCTFail("no S0 S1 S2", file: file, line: line) }
        XCTAssertEqual(reply.first, answered, file: file, line: line)
        let completion = try XCTUnwrap(try client.feed(ByteBuffer(bytes: reply)), file: file, line: line)
        XCTAssertTrue(completion.serverVerified, file: file, line: line)
        XCTAssertEqual(completion.type, answered, file: file, line: line)
        var clientCiphers = try XCTUnwrap(completion.ciphers, file: file, line: line)

        // The first chunk bytes may ride with C2: they are already encrypted.
        var hello = Array("connect".utf8)
        clientCiphers.outgoing.apply(&hello)
        guard case .complete(var leftover) = try server.feed(ByteBuffer(bytes: completion.c2 + hello)) else {
            return XCTFail("C2 not accepted", file: file, line: line)
        }
        XCTAssertEqual(server.kind, .encrypted(type: answered, .two), file: file, line: line)
        var serverCiphers = try XCTUnwrap(server.ciphers, file: file, line: line)
        leftover.withUnsafeMutableReadableBytes { serverCiphers.incoming.apply($0) }
        XCTAssertEqual(leftover.readableBytesView.map { $0 }, Array("connect".utf8), file: file, line: line)
        var answer = Array("_result".utf8)
        serverCiphers.outgoing.apply(&answer)
        XCTAssertNotEqual(answer, Array("_result".utf8), file: file, line: line)
        clientCiphers.incoming.apply(&answer)
        XCTAssertEqual(answer, Array("_result".utf8), file: file, line: line)
    }

    /// Type 6 from a Flash Player 10 client (version byte 128) is answered as type 8, as
    /// librtmp's server and FMS answer it; 8 stays 8 (XTEA), 9 stays 9 (Blowfish).
    func testEveryTypeCompletesAndBothDirectionsDecrypt() throws {
        try handshake(type: 6, expecting: 8)
        try handshake(type: 8, expecting: 8)
        try handshake(type: 9, expecting: 9)
    }

    func testATamperedC2ClosesTheHandshake() throws {
        var client = ClientHandshake(digest: true, encryption: 9)
        var server = ServerHandshake()
        guard case .send(let reply) = try server.feed(ByteBuffer(bytes: client.c0c1)) else { return XCTFail("no S0 S1 S2") }
        var c2 = try XCTUnwrap(try client.feed(ByteBuffer(bytes: reply))).c2
        c2[1535] ^= 1
        XCTAssertThrowsError(try server.feed(ByteBuffer(bytes: c2))) { error in
            XCTAssertTrue("\(error)".contains("does not verify"), "\(error)")
        }
    }

    /// Public keys that would pin the shared secret (1, p−1) or are not keys at all.
    func testOutOfRangePublicKeysAreRefused() throws {
        let client = ClientHandshake(digest: true, encryption: 8)
        for key in [[UInt8](repeating: 0, count: 127) + [1], [UInt8](repeating: 0, count: 128), [UInt8](repeating: 0xFF, count: 128)] {
            var c1 = Array(client.c0c1.dropFirst())
            let at = RTMPE.keyOffset(in: c1, scheme: .two)
            c1.replaceSubrange(at..<at + 128, with: key)
            HandshakeDigest.sign(&c1, scheme: .two, key: HandshakeDigest.playerKeyShort)
            var server = ServerHandshake()
            XCTAssertThrowsError(try server.feed(ByteBuffer(bytes: [8] + c1))) { error in
                XCTAssertTrue("\(error)".contains("out of range"), "\(error)")
            }
        }
    }

    func testRTMPEWithoutADigestIsRefused() {
        var server = ServerHandshake()
        XCTAssertThrowsError(try server.feed(ByteBuffer(bytes: [6] + (0..<1536).map { UInt8($0 % 251) }))) { error in
            XCTAssertTrue("\(error)".contains("without a valid digest"), "\(error)")
        }
    }
}
