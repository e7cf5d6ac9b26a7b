/// RC4, the stream cipher RTMPE runs RTMP inside. Each direction of a connection has its
/// own keystream; both are advanced past their first 1536 bytes before use.
public struct RC4: Sendable {
    private var state: [UInt8]
    private var i: UInt8 = 0
    private var j: UInt8 = 0

    /// `key` is 1 to 256 bytes (RTMPE uses 16).
    public init(key: [UInt8]) {
        precondition(!key.isEmpty && key.count <= 256, "an RC4 key is 1 to 256 bytes")
        state = Array(0...255)
        var j: UInt8 = 0
        for index in 0..<256 {
            j = j &+ state[index] &+ key[index % key.count]
            state.swapAt(index, Int(j))
        }
    }

    /// XORs the next `bytes.count` keystream bytes into `bytes`.
    public mutating func apply(_ bytes: UnsafeMutableRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        var i = self.i, j = self.j
        state.withUnsafeMutableBufferPointer { s in
            for index in 0..<bytes.count {
                i &+= 1
                let si = s[Int(i)]
                j &+= si
                let sj = s[Int(j)]
                s[Int(i)] = sj
                s[Int(j)] = si
                bytes[index] ^= s[Int(si &+ sj)]
            }
        }
        self.i = i
        self.j = j
    }

    public mutating func apply(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { apply($0) }
    }

    /// Advances the keystream by `count` bytes.
    public mutating func skip(_ count: Int) {
        var discard = [UInt8](repeating: 0, count: count)
        apply(&discard)
    }
}
