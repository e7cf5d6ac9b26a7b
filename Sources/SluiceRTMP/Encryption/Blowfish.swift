/// Blowfish (Schneier, 1993), encryption only: RTMPE type 9 passes each 8-byte block of
/// the handshake signature through it, with one of 16 fixed keys.
public struct Blowfish: Sendable {
    private var p: [UInt32]
    private var s: [UInt32]

    /// `key` is 1 to 56 bytes.
    public init(key: [UInt8]) {
        precondition(!key.isEmpty && key.count <= 56, "a Blowfish key is 1 to 56 bytes")
        p = Array(BlowfishConstants.piWords[0..<18])
        s = Array(BlowfishConstants.piWords[18...])
        var position = 0
        for index in 0..<18 {
            var word: UInt32 = 0
            for _ in 0..<4 {
                word = word << 8 | UInt32(key[position])
                position = (position + 1) % key.count
            }
            p[index] ^= word
        }
        var block: (UInt32, UInt32) = (0, 0)
        for index in stride(from: 0, to: 18, by: 2) {
            block = encrypt(block.0, block.1)
            (p[index], p[index + 1]) = block
        }
        for index in stride(from: 0, to: 1024, by: 2) {
            block = encrypt(block.0, block.1)
            (s[index], s[index + 1]) = block
        }
    }

    private func f(_ x: UInt32) -> UInt32 {
        ((s[Int(x >> 24)] &+ s[256 + Int((x >> 16) & 0xFF)]) ^ s[512 + Int((x >> 8) & 0xFF)]) &+ s[768 + Int(x & 0xFF)]
    }

    public func encrypt(_ left: UInt32, _ right: UInt32) -> (UInt32, UInt32) {
        var left = left, right = right
        for round in 0..<16 {
            left ^= p[round]
            right ^= f(left)
            swap(&left, &right)
        }
        swap(&left, &right)
        right ^= p[16]
        left ^= p[17]
        return (left, right)
    }
}
