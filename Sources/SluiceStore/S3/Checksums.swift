import Crypto
import Foundation

/// The additional checksums S3 clients attach to uploads (`x-amz-checksum-ALGORITHM`,
/// base64 of the big-endian value), computed while the body streams past.
public enum ChecksumAlgorithm: String, CaseIterable, Sendable {
    case crc32 = "CRC32"
    case crc32c = "CRC32C"
    case crc64nvme = "CRC64NVME"
    case sha1 = "SHA1"
    case sha256 = "SHA256"

    /// The header (or trailer) that carries it: `x-amz-checksum-crc32`.
    public var headerName: String { "x-amz-checksum-" + rawValue.lowercased() }

    public init?(headerName: String) {
        let lowered = headerName.lowercased()
        guard let found = Self.allCases.first(where: { $0.headerName == lowered }) else { return nil }
        self = found
    }
}

/// One running checksum.
public struct RunningChecksum {
    public let algorithm: ChecksumAlgorithm
    private var crc32 = CRC32Table.Running()
    private var crc64: UInt64 = ~0
    private var sha1 = Insecure.SHA1()
    private var sha256 = SHA256()

    public init(_ algorithm: ChecksumAlgorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .crc32: crc32 = CRC32Table.ieee.start()
        case .crc32c: crc32 = CRC32Table.castagnoli.start()
        default: break
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch algorithm {
        case .crc32, .crc32c: crc32.update(bytes)
        case .crc64nvme: crc64 = CRC64NVME.update(crc64, bytes)
        case .sha1: sha1.update(bufferPointer: bytes)
        case .sha256: sha256.update(bufferPointer: bytes)
        }
    }

    public mutating func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    /// The value as S3 sends it: base64 of the big-endian bytes.
    public func finalize() -> String {
        switch algorithm {
        case .crc32, .crc32c:
            let value = crc32.value
            return Data([UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]).base64EncodedString()
        case .crc64nvme:
            let value = ~crc64
            return Data((0..<8).map { UInt8(value >> (56 - 8 * UInt64($0)) & 0xFF) }).base64EncodedString()
        case .sha1: return Data(sha1.finalize()).base64EncodedString()
        case .sha256: return Data(sha256.finalize()).base64EncodedString()
        }
    }
}

/// Reflected 32-bit CRCs, slicing by 8 (a 256 MB upload is checked at memory speed).
struct CRC32Table: Sendable {
    static let ieee = CRC32Table(polynomial: 0xEDB8_8320)
    static let castagnoli = CRC32Table(polynomial: 0x82F6_3B78)

    /// tables[k][b]: the CRC of byte b followed by k zero bytes.
    let tables: [[UInt32]]

    init(polynomial: UInt32) {
        var first = [UInt32](repeating: 0, count: 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1 }
            first[byte] = crc
        }
        var tables = [first]
        for k in 1..<8 {
            tables.append((0..<256).map { byte in
                let previous = tables[k - 1][byte]
                return (previous >> 8) ^ first[Int(previous & 0xFF)]
            })
        }
        self.tables = tables
    }

    func start() -> Running { Running(table: self) }

    struct Running: Sendable {
        var table: CRC32Table?
        var crc: UInt32 = ~0

        init(table: CRC32Table? = nil) { self.table = table }

        var value: UInt32 { ~crc }

        mutating func update(_ bytes: UnsafeRawBufferPointer) {
            guard let table, !bytes.isEmpty else { return }
            crc = table.tables.withUnsafeBufferPointer { t in
                Self.run(crc, bytes, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7])
            }
        }

        private static func run(_ start: UInt32, _ bytes: UnsafeRawBufferPointer, _ t0: [UInt32], _ t1: [UInt32], _ t2: [UInt32], _ t3: [UInt32],
                                _ t4: [UInt32], _ t5: [UInt32], _ t6: [UInt32], _ t7: [UInt32]) -> UInt32 {
            var crc = start
            var index = 0
            let count = bytes.count
            while count - index >= 8 {
                let low = UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24
                let high = UInt32(bytes[index + 4]) | UInt32(bytes[index + 5]) << 8 | UInt32(bytes[index + 6]) << 16 | UInt32(bytes[index + 7]) << 24
                let mixed = crc ^ low
                crc = t7[Int(mixed & 0xFF)] ^ t6[Int(mixed >> 8 & 0xFF)] ^ t5[Int(mixed >> 16 & 0xFF)] ^ t4[Int(mixed >> 24)]
                    ^ t3[Int(high & 0xFF)] ^ t2[Int(high >> 8 & 0xFF)] ^ t1[Int(high >> 16 & 0xFF)] ^ t0[Int(high >> 24)]
                index += 8
            }
            while index < count {
                crc = (crc >> 8) ^ t0[Int((crc ^ UInt32(bytes[index])) & 0xFF)]
                index += 1
            }
            return crc
        }
    }
}

/// CRC-64/NVME (reflected polynomial 0x9A6C9329AC4BC9B5), which newer SDKs default to.
enum CRC64NVME {
    static let table: [UInt64] = (0..<256).map { byte in
        var crc = UInt64(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x9A6C_9329_AC4B_C9B5 : crc >> 1 }
        return crc
    }

    static func update(_ start: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var crc = start
        table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = (crc >> 8) ^ table[Int((crc ^ UInt64(byte)) & 0xFF)] }
        }
        return crc
    }
}
