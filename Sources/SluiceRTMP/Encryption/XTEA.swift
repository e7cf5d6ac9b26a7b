/// XTEA encipherment (Needham and Wheeler, 1997), 32 cycles: RTMPE type 8 passes each
/// 8-byte block of the handshake signature through it.
public enum XTEA {
    public static func encipher(_ v0: UInt32, _ v1: UInt32, key: [UInt32], cycles: Int = 32) -> (UInt32, UInt32) {
        precondition(key.count == 4, "an XTEA key is four words")
        var v0 = v0, v1 = v1, sum: UInt32 = 0
        let delta: UInt32 = 0x9E37_79B9
        for _ in 0..<cycles {
            v0 &+= (((v1 << 4) ^ (v1 >> 5)) &+ v1) ^ (sum &+ key[Int(sum & 3)])
            sum &+= delta
            v1 &+= (((v0 << 4) ^ (v0 >> 5)) &+ v0) ^ (sum &+ key[Int((sum >> 11) & 3)])
        }
        return (v0, v1)
    }
}
