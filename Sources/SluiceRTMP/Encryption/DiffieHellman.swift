import Foundation
import BigInt

/// RTMPE's key exchange: Diffie-Hellman over the 1024-bit MODP group of RFC 2409
/// (Oakley group 2), generator 2, public keys as 128 big-endian bytes.
public struct DiffieHellman: Sendable {
    static let prime = BigUInt(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
        radix: 16)!
    static let generator = BigUInt(2)
    public static let keySize = 128

    static let arithmetic = MontgomeryExponentiation(modulus: prime)

    /// The private exponent, big-endian.
    private let privateKey: [UInt8]
    public let publicKey: [UInt8]

    /// A new key pair. The private exponent has 256 bits: plenty for a 1024-bit group,
    /// and a quarter of the work of a full-size one on every connection.
    public init(privateKey bytes: [UInt8] = HandshakeRandom.bytes(32)) {
        self.init(exponent: BigUInt(Data(bytes)) | 1 << 255)
    }

    private init(exponent: BigUInt) {
        privateKey = [UInt8](exponent.serialize())
        publicKey = Self.arithmetic.power(Self.generator, exponent: privateKey)
    }

    /// A key pair with the exponent 3, for the fuzzer only: the same checks and
    /// arithmetic with a handful of multiplications instead of some 340, which an
    /// instrumented build needs to run more than a few inputs a second. Never for a connection: such
    /// a key is trivially broken.
    @_spi(Fuzzing) public static func weakKeyForFuzzing() -> DiffieHellman { weakKey }

    private static let weakKey = DiffieHellman(exponent: 3)

    /// The shared secret with a peer's public key, or nil when the key is not one a
    /// well-behaved peer sends: outside 2 … p−2 it would pin the secret to 1 or p−1.
    public func sharedSecret(with peerKey: [UInt8]) -> [UInt8]? {
        guard peerKey.count == Self.keySize else { return nil }
        let peer = BigUInt(Data(peerKey))
        guard peer >= 2, peer <= Self.prime - 2 else { return nil }
        return Self.arithmetic.power(peer, exponent: privateKey)
    }
}
