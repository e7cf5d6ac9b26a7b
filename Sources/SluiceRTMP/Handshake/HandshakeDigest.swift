import Crypto

/// The digest ("complex") handshake of Flash Player 9 and later, as Flash Media Server
/// answers it (librtmp handshake.h, FFmpeg rtmpproto.c, Red5 InboundHandshake).
public enum HandshakeDigest {
    public static let packetSize = 1536
    public static let digestSize = 32

    /// The 32 bytes that both well-known keys end with.
    static let sharedKeyTail: [UInt8] = [
        0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
        0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
    ]
    /// "Genuine Adobe Flash Player 001" and the shared tail.
    public static let playerKey: [UInt8] = Array("Genuine Adobe Flash Player 001".utf8) + sharedKeyTail
    /// "Genuine Adobe Flash Media Server 001" and the shared tail.
    public static let serverKey: [UInt8] = Array("Genuine Adobe Flash Media Server 001".utf8) + sharedKeyTail
    /// The parts that sign a C1 and an S1.
    public static let playerKeyShort = Array(playerKey.prefix(30))
    public static let serverKeyShort = Array(serverKey.prefix(36))

    /// The two places a digest can be put in a C1/S1.
    public enum Scheme: Int, CaseIterable, Sendable {
        /// Digest offset from bytes 8..11 (the scheme FFmpeg and Flash Player 9 use).
        case one = 1
        /// Digest offset from bytes 772..775 (Flash Player 10).
        case two = 2

        public func digestOffset(in packet: [UInt8]) -> Int {
            let base = self == .one ? 8 : 772
            let sum = Int(packet[base]) + Int(packet[base + 1]) + Int(packet[base + 2]) + Int(packet[base + 3])
            return sum % 728 + base + 4
        }
    }

    public static func hmac(key: [UInt8], _ parts: ArraySlice<UInt8>...) -> [UInt8] {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: key))
        for part in parts { mac.update(data: part) }
        return Array(mac.finalize())
    }

    /// The digest of a packet with its 32 digest bytes at `offset` left out.
    public static func digest(of packet: [UInt8], at offset: Int, key: [UInt8]) -> [UInt8] {
        hmac(key: key, packet[0..<offset], packet[(offset + digestSize)...])
    }

    /// The scheme whose digest in `c1` verifies with the player key, if any.
    public static func clientScheme(of c1: [UInt8]) -> Scheme? {
        guard c1.count == packetSize else { return nil }
        // Flash Player 10 uses scheme 2 when its version is at least 10.0.32; try the likelier first.
        let order: [Scheme] = c1[4] >= 10 ? [.two, .one] : [.one, .two]
        for scheme in order {
            let offset = scheme.digestOffset(in: c1)
            if digest(of: c1, at: offset, key: playerKeyShort)[...] == c1[offset..<offset + digestSize] {
                return scheme
            }
        }
        return nil
    }

    /// Writes S1's digest in place, at the offset its own bytes give under `scheme`.
    public static func sign(_ packet: inout [UInt8], scheme: Scheme, key: [UInt8]) {
        let offset = scheme.digestOffset(in: packet)
        let signature = digest(of: packet, at: offset, key: key)
        packet.replaceSubrange(offset..<offset + digestSize, with: signature)
    }

    /// An S2 answering a client digest: random bytes whose last 32 are signed with a key
    /// derived from that digest.
    public static func makeS2(clientDigest: [UInt8], random: [UInt8]) -> [UInt8] {
        precondition(random.count == packetSize)
        var s2 = random
        let key = hmac(key: serverKey, clientDigest[...])
        let signature = hmac(key: key, s2[0..<(packetSize - digestSize)])
        s2.replaceSubrange((packetSize - digestSize)..<packetSize, with: signature)
        return s2
    }

    /// Checks an S2 (or C2) against the digest it answers; used by Sluice's own test client.
    public static func verifyResponse(_ packet: [UInt8], answering digest: [UInt8], fullKey: [UInt8]) -> Bool {
        let key = hmac(key: fullKey, digest[...])
        return hmac(key: key, packet[0..<(packetSize - digestSize)])[...] == packet[(packetSize - digestSize)...]
    }
}
