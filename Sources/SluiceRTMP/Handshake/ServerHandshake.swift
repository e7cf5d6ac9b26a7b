import NIOCore

/// The server side of the RTMP handshake: C0+C1 in, S0+S1+S2 out, C2 in.
///
/// A client whose C1 carries a valid digest gets S1 and S2 signed as Flash Media Server
/// signs them (Flash Player 9+ and FFmpeg check this); any other gets the simple
/// handshake (S1 random, S2 an echo of C1). Types 6, 8 and 9 ask for RTMPE: the digest
/// handshake with a Diffie-Hellman exchange, C2 verified, and `ciphers` set once done.
public struct ServerHandshake {
    public enum State: Equatable, Sendable {
        case waitingForC0C1
        case waitingForC2
        case done
    }

    public enum Action: Equatable {
        /// Send these bytes (S0, S1, S2).
        case send([UInt8])
        /// The handshake is over; the bytes that followed C2 begin the chunk stream.
        case complete(leftover: ByteBuffer)
        case needMoreData
    }

    public enum Kind: Equatable, Sendable {
        case simple
        case digest(HandshakeDigest.Scheme)
        /// RTMPE, with the handshake type answered (6, 8 or 9).
        case encrypted(type: UInt8, HandshakeDigest.Scheme)
    }

    public private(set) var state: State = .waitingForC0C1
    public private(set) var kind: Kind = .simple
    /// Set when an RTMPE handshake completes: everything after C2 is inside them.
    public private(set) var ciphers: RTMPE.Ciphers?
    private var buffer = ByteBuffer()
    private let randomBytes: (Int) -> [UInt8]
    private let epochMilliseconds: () -> UInt32
    private let makeKeyPair: () -> DiffieHellman
    /// Between S1 and C2 of an RTMPE handshake: what C2 is checked against, and the keys.
    private var pendingEncryption: (serverDigest: [UInt8], ciphers: RTMPE.Ciphers)?
    /// The version FMS 3.5 puts in S1 (FFmpeg only checks the digest when it is at least 3).
    public static let serverVersion: [UInt8] = [3, 5, 1, 1]

    public init(
        randomBytes: @escaping (Int) -> [UInt8] = HandshakeRandom.bytes,
        epochMilliseconds: @escaping () -> UInt32 = { 0 },
        makeKeyPair: @escaping () -> DiffieHellman = { DiffieHellman() }
    ) {
        self.randomBytes = randomBytes
        self.epochMilliseconds = epochMilliseconds
        self.makeKeyPair = makeKeyPair
    }

    public mutating func feed(_ bytes: ByteBuffer) throws(RTMPProtocolError) -> Action {
        var bytes = bytes
        buffer.writeBuffer(&bytes)
        switch state {
        case .waitingForC0C1:
            guard buffer.readableBytes >= 1 + HandshakeDigest.packetSize else { return .needMoreData }
            let version = buffer.readInteger(as: UInt8.self)!
            let c1 = buffer.readBytes(length: HandshakeDigest.packetSize)!
            state = .waitingForC2
            switch version {
            case 3:
                return .send([3] + respond(to: c1))
            case 6, 8, 9:
                return .send(try respondEncrypted(to: c1, type: version))
            default:
                throw .handshake("unsupported RTMP version \(version)")
            }
        case .waitingForC2:
            guard buffer.readableBytes >= HandshakeDigest.packetSize else { return .needMoreData }
            // A plain C2 is not checked: Flash Media Server accepts whatever the client
            // echoes, and so do librtmp's and nginx-rtmp's servers. An RTMPE C2 must prove
            // the client took part in the key exchange.
            let c2 = buffer.readBytes(length: HandshakeDigest.packetSize)!
            if let pending = pendingEncryption, case .encrypted(let type, _) = kind {
                guard Self.verifyC2(c2, serverDigest: pending.serverDigest, type: type) else {
                    throw .handshake("the RTMPE C2 does not verify")
                }
                ciphers = pending.ciphers
                pendingEncryption = nil
            }
            state = .done
            let leftover = buffer.slice()
            buffer = ByteBuffer()
            return .complete(leftover: leftover)
        case .done:
            return .complete(leftover: bytes)
        }
    }

    /// S0, S1 and S2 for an RTMPE C1: the digest handshake with the server's public key in
    /// S1, after checking the client's digest and public key.
    mutating func respondEncrypted(to c1: [UInt8], type requested: UInt8) throws(RTMPProtocolError) -> [UInt8] {
        guard let scheme = HandshakeDigest.clientScheme(of: c1) else {
            throw .handshake("RTMPE (type \(requested)) without a valid digest")
        }
        // Flash Player 10 (version byte 128) gets type 8 when it asks for 6, as librtmp's
        // server and FMS answer it.
        let type: UInt8 = requested == 6 && c1[4] == 128 ? 8 : requested
        let keyPair = makeKeyPair()
        let clientKeyAt = RTMPE.keyOffset(in: c1, scheme: scheme)
        let clientKey = Array(c1[clientKeyAt..<clientKeyAt + DiffieHellman.keySize])
        guard let secret = keyPair.sharedSecret(with: clientKey) else {
            throw .handshake("the client's RTMPE public key is out of range")
        }
        var s1 = timeBytes() + Self.serverVersion
            + randomBytes(HandshakeDigest.packetSize - 8)
        let keyAt = RTMPE.keyOffset(in: s1, scheme: scheme)
        s1.replaceSubrange(keyAt..<keyAt + DiffieHellman.keySize, with: keyPair.publicKey)
        HandshakeDigest.sign(&s1, scheme: scheme, key: HandshakeDigest.serverKeyShort)
        let serverDigestAt = scheme.digestOffset(in: s1)
        let clientDigestAt = scheme.digestOffset(in: c1)
        let clientDigest = Array(c1[clientDigestAt..<clientDigestAt + HandshakeDigest.digestSize])

        var s2 = randomBytes(HandshakeDigest.packetSize)
        let signatureKey = HandshakeDigest.hmac(key: HandshakeDigest.serverKey, clientDigest[...])
        let signature = HandshakeDigest.hmac(key: signatureKey, s2[0..<(HandshakeDigest.packetSize - HandshakeDigest.digestSize)])
        s2.replaceSubrange((HandshakeDigest.packetSize - HandshakeDigest.digestSize)..., with: RTMPE.protect(signature, type: type, digest: signatureKey))

        kind = .encrypted(type: type, scheme)
        pendingEncryption = (Array(s1[serverDigestAt..<serverDigestAt + HandshakeDigest.digestSize]),
                             RTMPE.Ciphers(sharedSecret: secret, clientPublicKey: clientKey, serverPublicKey: keyPair.publicKey))
        return [type] + s1 + s2
    }

    /// An RTMPE C2 ends with its first 1504 bytes signed by a key derived from the
    /// server's digest, passed through the type's cipher.
    static func verifyC2(_ c2: [UInt8], serverDigest: [UInt8], type: UInt8) -> Bool {
        let key = HandshakeDigest.hmac(key: HandshakeDigest.playerKey, serverDigest[...])
        let signed = HandshakeDigest.packetSize - HandshakeDigest.digestSize
        let expected = RTMPE.protect(HandshakeDigest.hmac(key: key, c2[0..<signed]), type: type, digest: key)
        return expected[...] == c2[signed...]
    }

    /// S1's first four bytes: the server's time, big-endian.
    private func timeBytes() -> [UInt8] {
        let time = epochMilliseconds()
        return [UInt8(time >> 24), UInt8(time >> 16 & 0xFF), UInt8(time >> 8 & 0xFF), UInt8(time & 0xFF)]
    }

    /// S1 and S2 for a C1.
    mutating func respond(to c1: [UInt8]) -> [UInt8] {
        let time = timeBytes()
        let clientVersionIsZero = c1[4] == 0 && c1[5] == 0 && c1[6] == 0 && c1[7] == 0
        if !clientVersionIsZero, let scheme = HandshakeDigest.clientScheme(of: c1) {
            kind = .digest(scheme)
            var s1 = time + Self.serverVersion + randomBytes(HandshakeDigest.packetSize - 8)
            HandshakeDigest.sign(&s1, scheme: scheme, key: HandshakeDigest.serverKeyShort)
            let offset = scheme.digestOffset(in: c1)
            let clientDigest = Array(c1[offset..<offset + HandshakeDigest.digestSize])
            let s2 = HandshakeDigest.makeS2(clientDigest: clientDigest, random: randomBytes(HandshakeDigest.packetSize))
            return s1 + s2
        }
        kind = .simple
        let s1 = time + [0, 0, 0, 0] + randomBytes(HandshakeDigest.packetSize - 8)
        return s1 + c1
    }
}

/// Filler for S1 and S2. It needs to look random, not to be secret (the digests are keyed
/// with published keys), so a SplitMix64 stream seeded once from the system generator
/// does: drawing 3 KB byte by byte from the system generator cost a millisecond a
/// connection.
public enum HandshakeRandom {
    public static func bytes(_ count: Int) -> [UInt8] {
        var state = UInt64.random(in: .min ... .max)
        var output = [UInt8]()
        output.reserveCapacity(count + 8)
        while output.count < count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            withUnsafeBytes(of: z) { output.append(contentsOf: $0) }
        }
        output.removeLast(output.count - count)
        return output
    }
}
