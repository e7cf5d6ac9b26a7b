import Foundation
import SluiceRTMP
import XCTest

/// RTMPE's ciphers against published vectors, and its key exchange.
final class EncryptionTests: XCTestCase {
    func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    /// RFC 6229, the 40-bit key 0x0102030405: keystream at offsets 0, 16, 240 and 256.
    func testRC4KeystreamMatchesRFC6229() {
        var rc4 = RC4(key: hex("0102030405"))
        var stream = [UInt8](repeating: 0, count: 272)
        rc4.apply(&stream)
        XCTAssertEqual(Array(stream[0..<16]), hex("b2396305f03dc027ccc3524a0a1118a8"))
        XCTAssertEqual(Array(stream[16..<32]), hex("6982944f18fc82d589c403a47a0d0919"))
        XCTAssertEqual(Array(stream[240..<256]), hex("28cb1132c96ce286421dcaadb8b69eae"))
        XCTAssertEqual(Array(stream[256..<272]), hex("1cfcf62b03eddb641d77dfcf7f8d8c93"))
        // Skipping is the same as applying and throwing away; applying twice decrypts.
        var skipped = RC4(key: hex("0102030405"))
        skipped.skip(240)
        var tail = [UInt8](repeating: 0, count: 16)
        skipped.apply(&tail)
        XCTAssertEqual(tail, Array(stream[240..<256]))
        var a = RC4(key: hex("0102030405")), b = RC4(key: hex("0102030405"))
        var message = Array("play sample.flv".utf8)
        a.apply(&message)
        XCTAssertNotEqual(message, Array("play sample.flv".utf8))
        b.apply(&message)
        XCTAssertEqual(message, Array("play sample.flv".utf8))
    }

    /// The reference XTEA vectors (key 00010203 04050607 08090a0b 0c0d0e0f, 32 cycles).
    func testXTEAMatchesTheReferenceVectors() {
        let key: [UInt32] = [0x0001_0203, 0x0405_0607, 0x0809_0A0B, 0x0C0D_0E0F]
        XCTAssertTrue(XTEA.encipher(0x4142_4344, 0x4546_4748, key: key) == (0x497D_F3D0, 0x7261_2CB5))
        XCTAssertTrue(XTEA.encipher(0x4141_4141, 0x4141_4141, key: key) == (0xE78F_2D13, 0x7443_41D8))
    }

    /// Eric Young's Blowfish ECB vectors.
    func testBlowfishMatchesTheReferenceVectors() {
        let cases: [(key: String, plain: (UInt32, UInt32), cipher: (UInt32, UInt32))] = [
            ("0000000000000000", (0, 0), (0x4EF9_9745, 0x6198_DD78)),
            ("FFFFFFFFFFFFFFFF", (0xFFFF_FFFF, 0xFFFF_FFFF), (0x5186_6FD5, 0xB85E_CB8A)),
            ("3000000000000000", (0x1000_0000, 0x0000_0001), (0x7D85_6F9A, 0x6130_63F2)),
        ]
        for (key, plain, cipher) in cases {
            let out = Blowfish(key: hex(key)).encrypt(plain.0, plain.1)
            XCTAssertTrue(out == cipher, "key \(key): \(String(out.0, radix: 16)) \(String(out.1, radix: 16))")
        }
    }

    func testDiffieHellmanAgreesAndRefusesDegenerateKeys() {
        // A known answer, computed independently: 2^x mod p for this private key.
        let fixed = DiffieHellman(privateKey: Array(1...32))
        XCTAssertEqual(fixed.publicKey.count, 128)
        XCTAssertEqual(Array(fixed.publicKey.prefix(32)), hex("76839f09c0905bcc31db54d185a29d7d0c3178a14ef77a56bf9bdeeb796b764f"))
        XCTAssertEqual(Array(fixed.publicKey.suffix(16)), hex("76cbca1f33a9144d5efe82341f719944"))

        // Shared secrets against Python's pow(peer, x, p): a mid-range peer key, and the
        // largest allowed one (p − 2) with an all-ones exponent.
        XCTAssertEqual(fixed.sharedSecret(with: [UInt8](repeating: 0x5A, count: 128)),
                       hex("5ab38425aee3d445657467fb8be25a46c4606c67d1b9e993fae3c15ed42c6351da00557eda3b1a3fa21bda8ca94c5a4c93c51c779567f91dea078b3a859e42dfcc14065537aa270a467329e90a95b32b65e4dd78e1bddc3e61dd651182d7980b23dad8bc2a28eb8a98e471ff1edf014cf0f03a277347ecec87d9968b0954ef9a"))
        let allOnes = DiffieHellman(privateKey: [UInt8](repeating: 0xFF, count: 32))
        XCTAssertEqual(allOnes.publicKey,
                       hex("19e474e98599fb1b6aab89b253837bb1536b59b1486ed8b489137a7687787e0b88b14ad3998e9d5bc0835fd280368ef0b71f76a2f18a739a98121007551b4f351404db4cf1e9b9771c1e3eac9d9ca415098e9ebacd2f3fe0b17cb2fe14ebec6172ce41b4487694e5294056f36b315aed37a68fce5a2bc60ecc9213566dc41bf0"))

        let server = DiffieHellman(), client = DiffieHellman()
        let secret = server.sharedSecret(with: client.publicKey)
        XCTAssertEqual(secret?.count, 128)
        XCTAssertEqual(secret, client.sharedSecret(with: server.publicKey))

        let prime = hex("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF")
        var primeMinusOne = prime
        primeMinusOne[127] -= 1
        var primeMinusTwo = prime
        primeMinusTwo[127] -= 2
        let zero = [UInt8](repeating: 0, count: 128)
        var one = zero
        one[127] = 1
        var two = zero
        two[127] = 2
        for degenerate in [zero, one, primeMinusOne, prime, [UInt8](repeating: 0xFF, count: 128), Array(client.publicKey.prefix(127))] {
            XCTAssertNil(server.sharedSecret(with: degenerate))
        }
        XCTAssertNotNil(server.sharedSecret(with: two))
        XCTAssertNotNil(server.sharedSecret(with: primeMinusTwo))
    }
}
