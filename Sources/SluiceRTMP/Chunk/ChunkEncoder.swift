import NIOCore

/// Splits messages into RTMP chunks, choosing the smallest header each chunk stream allows.
public struct ChunkEncoder: Sendable {
    private struct StreamState {
        var timestamp: UInt32
        var delta: UInt32
        var length: Int
        var typeID: UInt8
        var streamID: UInt32
        var usesExtendedTimestamp: Bool
        var wasFullHeader: Bool
    }

    public private(set) var chunkSize = 128
    private var streams: [UInt32: StreamState] = [:]

    public init() {}

    /// Changes the outgoing chunk size. The caller sends Set Chunk Size first.
    public mutating func setChunkSize(_ size: Int) {
        precondition(size >= 1 && size <= 0x7FFF_FFFF)
        chunkSize = size
    }

    /// Forgets the last header of every chunk stream, so the next message on each carries
    /// a full header (after a seek its timestamp may go back).
    public mutating func resetHeaders(chunkStreamID: UInt32? = nil) {
        if let chunkStreamID { streams[chunkStreamID] = nil } else { streams.removeAll() }
    }

    public mutating func write(_ message: RTMPMessage, into out: inout ByteBuffer) {
        message.payload.withUnsafeReadableBytes { payload in
            write(chunkStreamID: message.chunkStreamID, typeID: message.typeID, streamID: message.streamID,
                  timestamp: message.timestamp, payload: payload, into: &out)
        }
    }

    public mutating func write(
        chunkStreamID: UInt32, typeID: UInt8, streamID: UInt32, timestamp: UInt32,
        payload: [UInt8], into out: inout ByteBuffer
    ) {
        payload.withUnsafeBytes { bytes in
            write(chunkStreamID: chunkStreamID, typeID: typeID, streamID: streamID, timestamp: timestamp, payload: bytes, into: &out)
        }
    }

    /// Writes one message as chunks. Header choice (RTMP 5.3.1.2): type 0 for a new
    /// stream id or a timestamp that goes back, type 1 when length or type changed,
    /// type 2 when only the delta changed, type 3 when everything repeats.
    public mutating func write(
        chunkStreamID: UInt32, typeID: UInt8, streamID: UInt32, timestamp: UInt32,
        payload: UnsafeRawBufferPointer, into out: inout ByteBuffer
    ) {
        let length = payload.count
        let previous = streams[chunkStreamID]
        let format: UInt8
        var field: UInt32
        var delta: UInt32 = 0
        if let previous, previous.streamID == streamID, timestamp >= previous.timestamp {
            delta = timestamp - previous.timestamp
            if previous.length != length || previous.typeID != typeID {
                format = 1
            } else if previous.delta != delta || previous.wasFullHeader {
                // After a type-0 header, implementations disagree on what a type-3 message's
                // delta is (the spec says the absolute timestamp); a type 2 leaves no doubt.
                format = 2
            } else {
                format = 3
            }
            field = delta
        } else {
            format = 0
            field = timestamp
        }
        let extended = format == 3 ? previous!.usesExtendedTimestamp : field >= 0xFFFFFF
        if format == 3 { field = delta }
        streams[chunkStreamID] = StreamState(
            timestamp: timestamp, delta: format == 0 ? timestamp : delta, length: length,
            typeID: typeID, streamID: streamID, usesExtendedTimestamp: extended, wasFullHeader: format == 0)

        let chunks = max(1, (length + chunkSize - 1) / chunkSize)
        out.reserveCapacity(minimumWritableBytes: length + chunks * 8 + 18)
        writeBasicHeader(format: format, chunkStreamID: chunkStreamID, into: &out)
        if format <= 2 {
            writeUInt24(extended ? 0xFFFFFF : field, into: &out)
        }
        if format <= 1 {
            writeUInt24(UInt32(length), into: &out)
            out.writeInteger(typeID)
        }
        if format == 0 {
            out.writeInteger(streamID, endianness: .little)
        }
        if extended { out.writeInteger(field) }

        var offset = 0
        while true {
            let count = min(chunkSize, length - offset)
            if count > 0 {
                out.writeBytes(UnsafeRawBufferPointer(rebasing: payload[offset..<offset + count]))
            }
            offset += count
            if offset >= length { break }
            writeBasicHeader(format: 3, chunkStreamID: chunkStreamID, into: &out)
            if extended { out.writeInteger(field) }
        }
    }

    private func writeBasicHeader(format: UInt8, chunkStreamID: UInt32, into out: inout ByteBuffer) {
        if chunkStreamID < 64 {
            out.writeInteger(format << 6 | UInt8(chunkStreamID))
        } else if chunkStreamID < 320 {
            out.writeInteger(format << 6)
            out.writeInteger(UInt8(chunkStreamID - 64))
        } else {
            let value = chunkStreamID - 64
            out.writeInteger(format << 6 | 1)
            out.writeInteger(UInt8(value & 0xFF))
            out.writeInteger(UInt8(value >> 8))
        }
    }

    private func writeUInt24(_ value: UInt32, into out: inout ByteBuffer) {
        out.writeInteger(UInt8(truncatingIfNeeded: value >> 16))
        out.writeInteger(UInt16(truncatingIfNeeded: value))
    }
}
