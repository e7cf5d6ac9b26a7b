import NIOCore

/// Why a peer's chunk stream was refused. Any of these closes that one connection.
public enum RTMPProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    case chunkWithoutPreviousHeader(chunkStreamID: UInt32, format: UInt8)
    case messageTooLarge(length: Int, limit: Int)
    case tooManyChunkStreams(limit: Int)
    case tooMuchBuffered(bytes: Int, limit: Int)
    case invalidChunkSize(Int)
    case malformedMessage(String)
    case handshake(String)

    public var description: String {
        switch self {
        case .chunkWithoutPreviousHeader(let id, let format):
            return "chunk of format \(format) on chunk stream \(id) with no earlier header to extend"
        case .messageTooLarge(let length, let limit):
            return "message of \(length) bytes exceeds the limit of \(limit)"
        case .tooManyChunkStreams(let limit):
            return "more than \(limit) chunk streams in use"
        case .tooMuchBuffered(let bytes, let limit):
            return "\(bytes) bytes of unfinished messages exceed the limit of \(limit)"
        case .invalidChunkSize(let size): return "invalid chunk size \(size)"
        case .malformedMessage(let reason): return "malformed message: \(reason)"
        case .handshake(let reason): return "handshake failed: \(reason)"
        }
    }
}

/// Reassembles messages from RTMP chunks (RTMP specification 5.3.1).
///
/// Pure: bytes in, messages out. Set Chunk Size and Abort from the peer take effect
/// here, at once, because the chunks that follow them in the same read already use them.
public struct ChunkDecoder: Sendable {
    public struct Limits: Sendable {
        /// The largest chunk size a peer may announce.
        public var maximumChunkSize: Int
        /// The largest message a peer may send (commands are small; Sluice takes no publishing).
        public var maximumMessageSize: Int
        /// Chunk streams a peer may use at once (players use fewer than ten).
        public var maximumChunkStreams: Int
        /// Bytes of unfinished messages held across all chunk streams: without it, a peer
        /// could start a message on each of 65,599 chunk streams and never finish one.
        public var maximumBufferedBytes: Int

        public init(maximumChunkSize: Int = 65536, maximumMessageSize: Int = 1 << 20, maximumChunkStreams: Int = 64,
                    maximumBufferedBytes: Int? = nil) {
            self.maximumChunkSize = maximumChunkSize
            self.maximumMessageSize = maximumMessageSize
            self.maximumChunkStreams = maximumChunkStreams
            self.maximumBufferedBytes = maximumBufferedBytes ?? 2 * maximumMessageSize
        }
    }

    private struct StreamState {
        var timestamp: UInt32 = 0
        var delta: UInt32 = 0
        var length = 0
        var typeID: UInt8 = 0
        var streamID: UInt32 = 0
        var usesExtendedTimestamp = false
        /// The message being reassembled, if a chunk of it has arrived.
        var partial: ByteBuffer?
    }

    public private(set) var chunkSize = 128
    public let limits: Limits
    private var streams: [UInt32: StreamState] = [:]
    private var buffer = ByteBuffer()
    /// Bytes of unfinished messages across all chunk streams.
    private var partialBytes = 0
    public private(set) var bytesReceived: UInt64 = 0

    /// What the decoder holds: unparsed input (at most one chunk) and unfinished messages.
    public var bufferedBytes: Int { buffer.readableBytes + partialBytes }

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Appends received bytes.
    public mutating func feed(_ bytes: ByteBuffer) {
        var bytes = bytes
        bytesReceived &+= UInt64(bytes.readableBytes)
        if buffer.readableBytes == 0 {
            buffer = bytes
        } else {
            buffer.writeBuffer(&bytes)
        }
    }

    /// The next complete message, nil when more bytes are needed.
    public mutating func nextMessage() throws(RTMPProtocolError) -> RTMPMessage? {
        while true {
            guard let message = try nextChunk() else {
                if buffer.readableBytes == 0 { buffer.clear() }
                return nil
            }
            if let message { return message }
        }
    }

    /// Parses one chunk. Returns nil if incomplete, .some(nil) if the chunk did not finish a message.
    private mutating func nextChunk() throws(RTMPProtocolError) -> RTMPMessage?? {
        var reader = buffer
        guard let first = reader.readInteger(as: UInt8.self) else { return nil }
        let format = first >> 6
        var chunkStreamID = UInt32(first & 0x3F)
        if chunkStreamID == 0 {
            guard let byte = reader.readInteger(as: UInt8.self) else { return nil }
            chunkStreamID = UInt32(byte) + 64
        } else if chunkStreamID == 1 {
            guard let low = reader.readInteger(as: UInt8.self), let high = reader.readInteger(as: UInt8.self) else { return nil }
            chunkStreamID = UInt32(high) * 256 + UInt32(low) + 64
        }
        var state: StreamState
        if let existing = streams[chunkStreamID] {
            state = existing
        } else {
            guard format == 0 else { throw .chunkWithoutPreviousHeader(chunkStreamID: chunkStreamID, format: format) }
            guard streams.count < limits.maximumChunkStreams else { throw .tooManyChunkStreams(limit: limits.maximumChunkStreams) }
            state = StreamState()
        }
        let startsMessage = state.partial == nil
        var timestampField: UInt32 = 0
        switch format {
        case 0:
            guard reader.readableBytes >= 11 else { return nil }
            timestampField = readUInt24(&reader)
            state.length = Int(readUInt24(&reader))
            state.typeID = reader.readInteger(as: UInt8.self)!
            state.streamID = reader.readInteger(endianness: .little, as: UInt32.self)!
        case 1:
            guard reader.readableBytes >= 7 else { return nil }
            timestampField = readUInt24(&reader)
            state.length = Int(readUInt24(&reader))
            state.typeID = reader.readInteger(as: UInt8.self)!
        case 2:
            guard reader.readableBytes >= 3 else { return nil }
            timestampField = readUInt24(&reader)
        default:
            break
        }
        if format < 3 {
            state.usesExtendedTimestamp = timestampField == 0xFFFFFF
        }
        if state.usesExtendedTimestamp {
            // Also present on type-3 chunks of a message whose header used it.
            guard let extended = reader.readInteger(as: UInt32.self) else { return nil }
            timestampField = extended
        }
        if format < 3, !startsMessage {
            // A new header in the middle of a message: the peer abandoned the old one.
            partialBytes -= state.partial?.readableBytes ?? 0
            state.partial = nil
        }
        if state.partial == nil {
            guard state.length <= limits.maximumMessageSize else {
                throw .messageTooLarge(length: state.length, limit: limits.maximumMessageSize)
            }
        }
        let alreadyRead = state.partial?.readableBytes ?? 0
        let chunkLength = min(chunkSize, state.length - alreadyRead)
        guard reader.readableBytes >= chunkLength else { return nil }
        if chunkLength < state.length - alreadyRead, partialBytes + chunkLength > limits.maximumBufferedBytes {
            throw .tooMuchBuffered(bytes: partialBytes + chunkLength, limit: limits.maximumBufferedBytes)
        }

        // The chunk is complete: commit the header state.
        if state.partial == nil {
            switch format {
            case 0:
                state.timestamp = timestampField
                // A following type-3 message repeats this timestamp as its delta (spec 5.3.1.2.4).
                state.delta = timestampField
            case 1, 2:
                state.delta = timestampField
                state.timestamp &+= timestampField
            default:
                state.timestamp &+= state.delta
            }
            if chunkLength == state.length {
                // The whole message in one chunk, as almost every command is: no copy.
                let payload = reader.readSlice(length: chunkLength)!
                buffer = reader
                streams[chunkStreamID] = state
                let message = RTMPMessage(typeID: state.typeID, streamID: state.streamID, timestamp: state.timestamp,
                                          payload: payload, chunkStreamID: chunkStreamID)
                try applyProtocolControl(message)
                return .some(message)
            }
            // Grow with what arrives, not with what the peer announces.
            state.partial = ByteBufferAllocator().buffer(capacity: min(state.length, max(chunkLength, 4096)))
        }
        var slice = reader.readSlice(length: chunkLength)!
        state.partial!.writeBuffer(&slice)
        partialBytes += chunkLength
        buffer = reader

        if state.partial!.readableBytes >= state.length {
            let message = RTMPMessage(
                typeID: state.typeID, streamID: state.streamID, timestamp: state.timestamp,
                payload: state.partial!, chunkStreamID: chunkStreamID)
            partialBytes -= state.partial!.readableBytes
            state.partial = nil
            streams[chunkStreamID] = state
            try applyProtocolControl(message)
            return .some(message)
        }
        streams[chunkStreamID] = state
        return .some(nil)
    }

    private mutating func applyProtocolControl(_ message: RTMPMessage) throws(RTMPProtocolError) {
        guard message.streamID == 0 || message.chunkStreamID == ChunkStreamID.control else { return }
        switch message.type {
        case .setChunkSize:
            guard let raw = message.payload.getInteger(at: message.payload.readerIndex, as: UInt32.self) else {
                throw .malformedMessage("Set Chunk Size without a size")
            }
            let size = Int(raw & 0x7FFF_FFFF)  // the top bit must be zero
            guard size >= 1, size <= limits.maximumChunkSize else { throw .invalidChunkSize(size) }
            chunkSize = size
        case .abort:
            if let id = message.payload.getInteger(at: message.payload.readerIndex, as: UInt32.self) {
                partialBytes -= streams[id]?.partial?.readableBytes ?? 0
                streams[id]?.partial = nil
            }
        default:
            break
        }
    }

    private func readUInt24(_ buffer: inout ByteBuffer) -> UInt32 {
        let high = UInt32(buffer.readInteger(as: UInt8.self)!)
        let low = UInt32(buffer.readInteger(as: UInt16.self)!)
        return high << 16 | low
    }
}
