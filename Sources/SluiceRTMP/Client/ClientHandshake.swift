import NIOCore

/// The client side of the RTMP handshake: C0+C1 out, S0+S1+S2 in, C2 out.
///
/// `digest` makes C1 as Flash Player 10 does (a version and an HMAC digest, scheme 2) and
/// checks that S1 and S2 are signed as Flash Media Server signs them. `encryption` (6, 8
/// or 9) asks for RTMPE: C1 carries a Diffie-Hellman public key, and the completion
/// carries the RC4 keystreams everything after C2 goes through.
public struct ClientHandshake {
    static let scheme = HandshakeDigest.Scheme.two
    public let c0c1: [UInt8]
    private let c1: [UInt8]
    private let digest: Bool
    private let keyPair: DiffieHellman?
    private let randomBytes: (Int) -> [UInt8]
    private var buffer = ByteBuffer()

    public struct Completion {
        /// C2, to send.
        public var c2: [UInt8]
        /// Bytes that followed S2: the first chunks (still encrypted under RTMPE).
        public var leftover: ByteBuffer
        /// Whether S1 and S2 carried Flash Media Server's digests.
        public var serverVerified: Bool
        /// RTMPE's keystreams from the client's side: `outgoing` for what it sends.
        public var ciphers: RTMPE.Ciphers?
        /// The handshake type the server answered (3, or 6, 8 or 9 for RTMPE).
        public var type: UInt8
    }

    public init(digest: Bool, encryption: UInt8? = nil, randomBytes: @escaping (Int) -> [UInt8] = HandshakeRandom.bytes) {
        var packet = randomBytes(HandshakeDigest.packetSize)
        packet.replaceSubrange(0..<4, with: [0, 0, 0, 0])
        let digest = digest || encryption != nil
        var keyPair: DiffieHellman?
        if digest {
            // Flash Player 10.0.32 and later sign with the second offset scheme; version
            // byte 128 is how Flash Player 10 (and rtmpdump) say they can do type 8.
            packet.replaceSubrange(4..<8, with: encryption == nil ? [10, 0, 32, 18] : [128, 0, 3, 2])
            if encryption != nil {
                let pair = DiffieHellman()
                let at = RTMPE.keyOffset(in: packet, scheme: Self.scheme)
                packet.replaceSubrange(at..<at + DiffieHellman.keySize, with: pair.publicKey)
                keyPair = pair
            }
            HandshakeDigest.sign(&packet, scheme: Self.scheme, key: HandshakeDigest.playerKeyShort)
        } else {
            packet.replaceSubrange(4..<8, with: [0, 0, 0, 0])
        }
        self.digest = digest
        self.keyPair = keyPair
        self.randomBytes = randomBytes
        c1 = packet
        c0c1 = [encryption ?? 3] + packet
    }

    /// Feeds server bytes; the completion once S0, S1 and S2 are in.
    public mutating func feed(_ bytes: ByteBuffer) throws(RTMPProtocolError) -> Completion? {
        var bytes = bytes
        buffer.writeBuffer(&bytes)
        guard buffer.readableBytes >= 1 + 2 * HandshakeDigest.packetSize else { return nil }
        let type = buffer.readInteger(as: UInt8.self)!
        guard type == 3 || (keyPair != nil && [6, 8, 9].contains(type)) else {
            throw .handshake("the server answered with handshake type \(type)")
        }
        let s1 = buffer.readBytes(length: HandshakeDigest.packetSize)!
        let s2 = buffer.readBytes(length: HandshakeDigest.packetSize)!
        let leftover = buffer.slice()
        buffer = ByteBuffer()
        guard digest else { return Completion(c2: s1, leftover: leftover, serverVerified: false, ciphers: nil, type: type) }
        // S1 is signed at the offset our scheme gives in S1; S2 answers C1's digest.
        let offset = Self.scheme.digestOffset(in: s1)
        let serverDigest = Array(s1[offset..<offset + HandshakeDigest.digestSize])
        let s1Signed = HandshakeDigest.digest(of: s1, at: offset, key: HandshakeDigest.serverKeyShort) == serverDigest
        let clientOffset = Self.scheme.digestOffset(in: c1)
        let clientDigest = Array(c1[clientOffset..<clientOffset + HandshakeDigest.digestSize])
        guard let keyPair, type != 3 else {
            let verified = s1Signed && HandshakeDigest.verifyResponse(s2, answering: clientDigest, fullKey: HandshakeDigest.serverKey)
            return Completion(c2: s1, leftover: leftover, serverVerified: verified, ciphers: nil, type: type)
        }
        let signed = HandshakeDigest.packetSize - HandshakeDigest.digestSize
        let s2Key = HandshakeDigest.hmac(key: HandshakeDigest.serverKey, clientDigest[...])
        let s2Verified = RTMPE.protect(HandshakeDigest.hmac(key: s2Key, s2[0..<signed]), type: type, digest: s2Key)[...] == s2[signed...]
        guard s1Signed, s2Verified else { throw .handshake("the server's RTMPE handshake does not verify") }
        let serverKeyAt = RTMPE.keyOffset(in: s1, scheme: Self.scheme)
        let serverKey = Array(s1[serverKeyAt..<serverKeyAt + DiffieHellman.keySize])
        guard let secret = keyPair.sharedSecret(with: serverKey) else { throw .handshake("the server's RTMPE public key is out of range") }
        var c2 = randomBytes(HandshakeDigest.packetSize)
        let c2Key = HandshakeDigest.hmac(key: HandshakeDigest.playerKey, serverDigest[...])
        c2.replaceSubrange(signed..., with: RTMPE.protect(HandshakeDigest.hmac(key: c2Key, c2[0..<signed]), type: type, digest: c2Key))
        let ciphers = RTMPE.Ciphers(sharedSecret: secret, clientPublicKey: keyPair.publicKey, serverPublicKey: serverKey).swapped
        return Completion(c2: c2, leftover: leftover, serverVerified: true, ciphers: ciphers, type: type)
    }
}
