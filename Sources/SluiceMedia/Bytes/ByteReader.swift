/// A cursor over bytes that reads big-endian integers and fails cleanly at the end.
///
/// Every parser in SluiceMedia reads through this type, so a truncated or hostile
/// input becomes a `MediaFormatError` instead of a crash.
public struct ByteReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var position: Int
    public let end: Int

    public init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.position = start
        self.end = min(end ?? bytes.count, bytes.count)
    }

    public var remaining: Int { end - position }
    public var isAtEnd: Bool { position >= end }

    @inline(__always)
    mutating func need(_ count: Int) throws(MediaFormatError) {
        guard count >= 0, count <= end - position else {
            throw MediaFormatError.truncated(needed: count, available: max(0, end - position))
        }
    }

    public mutating func readUInt8() throws(MediaFormatError) -> UInt8 {
        try need(1)
        defer { position += 1 }
        return bytes[position]
    }

    public func peekUInt8() throws(MediaFormatError) -> UInt8 {
        guard position < end else { throw MediaFormatError.truncated(needed: 1, available: 0) }
        return bytes[position]
    }

    public mutating func readUInt16() throws(MediaFormatError) -> UInt16 {
        try need(2)
        defer { position += 2 }
        return UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
    }

    public mutating func readUInt24() throws(MediaFormatError) -> UInt32 {
        try need(3)
        defer { position += 3 }
        return UInt32(bytes[position]) << 16 | UInt32(bytes[position + 1]) << 8 | UInt32(bytes[position + 2])
    }

    public mutating func readUInt32() throws(MediaFormatError) -> UInt32 {
        try need(4)
        defer { position += 4 }
        return UInt32(bytes[position]) << 24 | UInt32(bytes[position + 1]) << 16
            | UInt32(bytes[position + 2]) << 8 | UInt32(bytes[position + 3])
    }

    public mutating func readUInt64() throws(MediaFormatError) -> UInt64 {
        let high = try readUInt32()
        let low = try readUInt32()
        return UInt64(high) << 32 | UInt64(low)
    }

    public mutating func readInt16() throws(MediaFormatError) -> Int16 {
        Int16(bitPattern: try readUInt16())
    }

    public mutating func readInt32() throws(MediaFormatError) -> Int32 {
        Int32(bitPattern: try readUInt32())
    }

    public mutating func readDouble() throws(MediaFormatError) -> Double {
        Double(bitPattern: try readUInt64())
    }

    public mutating func readBytes(_ count: Int) throws(MediaFormatError) -> [UInt8] {
        try need(count)
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    public mutating func skip(_ count: Int) throws(MediaFormatError) {
        try need(count)
        position += count
    }

    /// Reads `count` bytes as UTF-8; invalid sequences are repaired rather than rejected,
    /// because names from players are shown in logs and must never abort a session.
    public mutating func readUTF8(_ count: Int) throws(MediaFormatError) -> String {
        try need(count)
        defer { position += count }
        return String(decoding: bytes[position..<position + count], as: UTF8.self)
    }

    /// A reader limited to the next `count` bytes; this reader moves past them.
    public mutating func subReader(_ count: Int) throws(MediaFormatError) -> ByteReader {
        try need(count)
        defer { position += count }
        return ByteReader(bytes, from: position, to: position + count)
    }
}
