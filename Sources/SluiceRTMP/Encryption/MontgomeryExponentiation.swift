import BigInt

/// Modular exponentiation for RTMPE's one fixed 1024-bit prime, in Montgomery form over
/// sixteen 64-bit limbs. BigInt's general `power(_:modulus:)` takes 2.3 ms for a 256-bit
/// exponent; this takes about a tenth of a millisecond, which an event loop can afford on
/// every RTMPE handshake (a shared secret cannot be made ahead). Checked against BigInt
/// in the tests.
struct MontgomeryExponentiation: Sendable {
    static let limbs = 16
    /// The modulus, least significant limb first.
    let modulus: [UInt64]
    /// −modulus⁻¹ mod 2⁶⁴.
    let inverse: UInt64
    /// R² mod modulus, R = 2¹⁰²⁴: what takes a number into Montgomery form.
    let rSquared: [UInt64]

    init(modulus value: BigUInt) {
        precondition(value.bitWidth <= 1024 && value[bitAt: 0], "an odd modulus of at most 1024 bits")
        modulus = Self.limbs(value)
        // Newton's iteration for the inverse of an odd number mod 2⁶⁴: each step doubles
        // the bits that are right, from 1 to 64 in six steps.
        var x: UInt64 = 1
        for _ in 0..<6 { x = x &* (2 &- modulus[0] &* x) }
        inverse = 0 &- x
        rSquared = Self.limbs((BigUInt(1) << 2048) % value)
    }

    /// `base`^`exponent` mod the modulus, as 128 big-endian bytes. `base` is below the
    /// modulus; `exponent` is big-endian.
    func power(_ base: BigUInt, exponent: [UInt8]) -> [UInt8] {
        var table = [[UInt64]](repeating: [], count: 16)
        table[0] = multiply(Self.limbs(BigUInt(1)), rSquared)
        table[1] = multiply(Self.limbs(base), rSquared)
        for index in 2..<16 { table[index] = multiply(table[index - 1], table[1]) }
        // Four bits at a time, most significant first.
        var result = table[0]
        for byte in exponent {
            for nibble in [byte >> 4, byte & 0x0F] {
                for _ in 0..<4 { result = multiply(result, result) }
                if nibble != 0 { result = multiply(result, table[Int(nibble)]) }
            }
        }
        result = multiply(result, Self.limbs(BigUInt(1)))
        var bytes = [UInt8](repeating: 0, count: Self.limbs * 8)
        for (index, limb) in result.enumerated() {
            for shift in 0..<8 {
                bytes[bytes.count - 1 - index * 8 - shift] = UInt8(truncatingIfNeeded: limb >> (8 * UInt64(shift)))
            }
        }
        return bytes
    }

    /// a·b·R⁻¹ mod the modulus (CIOS: multiply and reduce a limb at a time).
    func multiply(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
        let s = Self.limbs
        var t = [UInt64](repeating: 0, count: s + 2)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                modulus.withUnsafeBufferPointer { n in
                    t.withUnsafeMutableBufferPointer { t in
                        for i in 0..<s {
                            var carry: UInt64 = 0
                            for j in 0..<s {
                                (carry, t[j]) = Self.multiplyAdd(a[j], b[i], t[j], carry)
                            }
                            let (sum, overflow) = t[s].addingReportingOverflow(carry)
                            t[s] = sum
                            t[s + 1] = overflow ? 1 : 0
                            let m = t[0] &* inverse
                            (carry, _) = Self.multiplyAdd(m, n[0], t[0], 0)
                            for j in 1..<s {
                                (carry, t[j - 1]) = Self.multiplyAdd(m, n[j], t[j], carry)
                            }
                            let (top, topOverflow) = t[s].addingReportingOverflow(carry)
                            t[s - 1] = top
                            t[s] = t[s + 1] &+ (topOverflow ? 1 : 0)
                        }
                    }
                }
            }
        }
        var result = Array(t[0..<s])
        if t[s] != 0 || !Self.isLess(result, modulus) { Self.subtract(&result, modulus) }
        return result
    }

    /// x·y + a + b as (high, low): never overflows, since (2⁶⁴−1)² + 2(2⁶⁴−1) < 2¹²⁸.
    @inline(__always)
    static func multiplyAdd(_ x: UInt64, _ y: UInt64, _ a: UInt64, _ b: UInt64) -> (UInt64, UInt64) {
        var (high, low) = x.multipliedFullWidth(by: y)
        var overflow: Bool
        (low, overflow) = low.addingReportingOverflow(a)
        if overflow { high &+= 1 }
        (low, overflow) = low.addingReportingOverflow(b)
        if overflow { high &+= 1 }
        return (high, low)
    }

    static func isLess(_ a: [UInt64], _ b: [UInt64]) -> Bool {
        for index in stride(from: limbs - 1, through: 0, by: -1) where a[index] != b[index] {
            return a[index] < b[index]
        }
        return false
    }

    static func subtract(_ a: inout [UInt64], _ b: [UInt64]) {
        var borrow = false
        for index in 0..<limbs {
            let (difference, first) = a[index].subtractingReportingOverflow(b[index])
            let (final, second) = difference.subtractingReportingOverflow(borrow ? 1 : 0)
            a[index] = final
            borrow = first || second
        }
    }

    static func limbs(_ value: BigUInt) -> [UInt64] {
        (0..<limbs).map { index in index < value.words.count ? UInt64(value.words[index]) : 0 }
    }
}
