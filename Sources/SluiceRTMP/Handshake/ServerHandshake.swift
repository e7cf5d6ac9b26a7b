import NIOCore

/// The server side of the RTMP handshake: C0+C1 in, S0+S1+S2 out, C2 in.
///
/// A client whose C1 carries a valid digest gets S1 and S2 signed as Flash Media Server
/// signs them (Flash Player 9+ and FFmpeg check this); any other gets the simple
/// handshake (S1 random, S2 an echo of C1).
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
    }

    public private(set) var state: State = .waitingForC0C1
    public private(set) var kind: Kind = .simple
    private var buffer = ByteBuffer()
    private let randomBytes: (Int) -> [UInt8]
    private let epochMilliseconds: () -> UInt32
    /// The version FMS 3.5 puts in S1 (FFmpeg only checks the digest when it is at least 3).
    public static let serverVersion: [UInt8] = [3, 5, 1, 1]

    public init(
        randomBytes: @escaping (Int) -> [UInt8] = HandshakeRandom.bytes,
        epochMilliseconds: @escaping () -> UInt32 = { 0 }
    ) {
        self.randomBytes = randomBytes
        self.epochMilliseconds = epochMilliseconds
    }

    public mutating func feed(_ bytes: ByteBuffer) throws(RTMPProtocolError) -> Action {
        var bytes = bytes
        buffer.writeBuffer(&bytes)
        switch state {
        case .waitingForC0C1:
            guard buffer.readableBytes >= 1 + HandshakeDigest.packetSize else { return .needMoreData }
            let version = buffer.readInteger(as: UInt8.self)!
            guard version == 3 else {
                if [6, 8, 9].contains(version) {
                    throw .handshake("encrypted RTMP (type \(version)) is not supported on this port")
                }
                throw .handshake("unsupported RTMP version \(version)")
            }
            let c1 = buffer.readBytes(length: HandshakeDigest.packetSize)!
            state = .waitingForC2
            return .send([3] + respond(to: c1))
        case .waitingForC2:
            guard buffer.readableBytes >= HandshakeDigest.packetSize else { return .needMoreData }
            // C2 is not checked: Flash Media Server accepts whatever the client echoes, and
            // so do librtmp's and nginx-rtmp's servers.
            buffer.moveReaderIndex(forwardBy: HandshakeDigest.packetSize)
            state = .done
            let leftover = buffer.slice()
            buffer = ByteBuffer()
            return .complete(leftover: leftover)
        case .done:
            return .complete(leftover: bytes)
        }
    }

    /// S1 and S2 for a C1.
    mutating func respond(to c1: [UInt8]) -> [UInt8] {
        let time = epochMilliseconds()
        let timeBytes: [UInt8] = [UInt8(time >> 24), UInt8(time >> 16 & 0xFF), UInt8(time >> 8 & 0xFF), UInt8(time & 0xFF)]
        let clientVersionIsZero = c1[4] == 0 && c1[5] == 0 && c1[6] == 0 && c1[7] == 0
        if !clientVersionIsZero, let scheme = HandshakeDigest.clientScheme(of: c1) {
            kind = .digest(scheme)
            var s1 = timeBytes + Self.serverVersion + randomBytes(HandshakeDigest.packetSize - 8)
            HandshakeDigest.sign(&s1, scheme: scheme, key: HandshakeDigest.serverKeyShort)
            let offset = scheme.digestOffset(in: c1)
            let clientDigest = Array(c1[offset..<offset + HandshakeDigest.digestSize])
            let s2 = HandshakeDigest.makeS2(clientDigest: clientDigest, random: randomBytes(HandshakeDigest.packetSize))
            return s1 + s2
        }
        kind = .simple
        let s1 = timeBytes + [0, 0, 0, 0] + randomBytes(HandshakeDigest.packetSize - 8)
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
