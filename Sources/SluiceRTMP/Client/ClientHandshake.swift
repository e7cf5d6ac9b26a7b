import NIOCore

/// The client side of the RTMP handshake: C0+C1 out, S0+S1+S2 in, C2 out.
///
/// `digest` makes C1 as Flash Player 10 does (a version and an HMAC digest, scheme 1) and
/// checks that S1 and S2 are signed as Flash Media Server signs them.
public struct ClientHandshake {
    static let scheme = HandshakeDigest.Scheme.two
    public let c0c1: [UInt8]
    private let c1: [UInt8]
    private let digest: Bool
    private var buffer = ByteBuffer()

    public struct Completion {
        /// C2, to send.
        public var c2: [UInt8]
        /// Bytes that followed S2: the first chunks.
        public var leftover: ByteBuffer
        /// Whether S1 and S2 carried Flash Media Server's digests.
        public var serverVerified: Bool
    }

    public init(digest: Bool, randomBytes: (Int) -> [UInt8] = HandshakeRandom.bytes) {
        var packet = randomBytes(HandshakeDigest.packetSize)
        packet.replaceSubrange(0..<4, with: [0, 0, 0, 0])
        if digest {
            // Flash Player 10.0.32 and later sign with the second offset scheme.
            packet.replaceSubrange(4..<8, with: [10, 0, 32, 18])
            HandshakeDigest.sign(&packet, scheme: Self.scheme, key: HandshakeDigest.playerKeyShort)
        } else {
            packet.replaceSubrange(4..<8, with: [0, 0, 0, 0])
        }
        self.digest = digest
        c1 = packet
        c0c1 = [3] + packet
    }

    /// Feeds server bytes; the completion once S0, S1 and S2 are in.
    public mutating func feed(_ bytes: ByteBuffer) throws(RTMPProtocolError) -> Completion? {
        var bytes = bytes
        buffer.writeBuffer(&bytes)
        guard buffer.readableBytes >= 1 + 2 * HandshakeDigest.packetSize else { return nil }
        guard buffer.readInteger(as: UInt8.self) == 3 else { throw .handshake("the server answered with another RTMP version") }
        let s1 = buffer.readBytes(length: HandshakeDigest.packetSize)!
        let s2 = buffer.readBytes(length: HandshakeDigest.packetSize)!
        var verified = false
        if digest {
            // S1 is signed at the offset our scheme gives in S1; S2 answers C1's digest.
            let offset = Self.scheme.digestOffset(in: s1)
            let s1Signed = HandshakeDigest.digest(of: s1, at: offset, key: HandshakeDigest.serverKeyShort)[...]
                == s1[offset..<offset + HandshakeDigest.digestSize]
            let clientOffset = Self.scheme.digestOffset(in: c1)
            verified = s1Signed && HandshakeDigest.verifyResponse(
                s2, answering: Array(c1[clientOffset..<clientOffset + HandshakeDigest.digestSize]), fullKey: HandshakeDigest.serverKey)
        }
        let leftover = buffer.slice()
        buffer = ByteBuffer()
        return Completion(c2: s1, leftover: leftover, serverVerified: verified)
    }
}
