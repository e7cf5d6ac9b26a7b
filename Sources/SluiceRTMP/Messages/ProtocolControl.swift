import NIOCore

/// User control events (RTMP specification 7.1.7, with FMS's buffer events).
public enum UserControlEvent: Equatable, Sendable {
    case streamBegin(streamID: UInt32)
    case streamEOF(streamID: UInt32)
    case streamDry(streamID: UInt32)
    case setBufferLength(streamID: UInt32, milliseconds: UInt32)
    case streamIsRecorded(streamID: UInt32)
    case pingRequest(timestamp: UInt32)
    case pingResponse(timestamp: UInt32)
    case bufferEmpty(streamID: UInt32)
    case bufferReady(streamID: UInt32)
    /// Any other event (SWF verification among them), kept raw.
    case other(type: UInt16, data: [UInt8])

    public var eventType: UInt16 {
        switch self {
        case .streamBegin: return 0
        case .streamEOF: return 1
        case .streamDry: return 2
        case .setBufferLength: return 3
        case .streamIsRecorded: return 4
        case .pingRequest: return 6
        case .pingResponse: return 7
        case .bufferEmpty: return 31
        case .bufferReady: return 32
        case .other(let type, _): return type
        }
    }

    public func encode() -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 10)
        buffer.writeInteger(eventType)
        switch self {
        case .streamBegin(let id), .streamEOF(let id), .streamDry(let id), .streamIsRecorded(let id),
             .bufferEmpty(let id), .bufferReady(let id):
            buffer.writeInteger(id)
        case .setBufferLength(let id, let milliseconds):
            buffer.writeInteger(id)
            buffer.writeInteger(milliseconds)
        case .pingRequest(let timestamp), .pingResponse(let timestamp):
            buffer.writeInteger(timestamp)
        case .other(_, let data):
            buffer.writeBytes(data)
        }
        return buffer
    }

    public static func decode(_ payload: ByteBuffer) throws(RTMPProtocolError) -> UserControlEvent {
        var buffer = payload
        guard let type = buffer.readInteger(as: UInt16.self) else {
            throw .malformedMessage("user control event without a type")
        }
        func word(_ buffer: inout ByteBuffer) throws(RTMPProtocolError) -> UInt32 {
            guard let value = buffer.readInteger(as: UInt32.self) else {
                throw .malformedMessage("user control event \(type) is too short")
            }
            return value
        }
        switch type {
        case 0: return .streamBegin(streamID: try word(&buffer))
        case 1: return .streamEOF(streamID: try word(&buffer))
        case 2: return .streamDry(streamID: try word(&buffer))
        case 3:
            let id = try word(&buffer)
            return .setBufferLength(streamID: id, milliseconds: try word(&buffer))
        case 4: return .streamIsRecorded(streamID: try word(&buffer))
        case 6: return .pingRequest(timestamp: try word(&buffer))
        case 7: return .pingResponse(timestamp: try word(&buffer))
        case 31: return .bufferEmpty(streamID: try word(&buffer))
        case 32: return .bufferReady(streamID: try word(&buffer))
        default: return .other(type: type, data: buffer.readBytes(length: buffer.readableBytes) ?? [])
        }
    }
}

/// Builders for the protocol control messages (RTMP 5.4), all on chunk stream 2, stream 0.
public enum ProtocolControl {
    static func message(_ type: RTMPMessageType, _ payload: ByteBuffer) -> RTMPMessage {
        RTMPMessage(typeID: type.rawValue, streamID: 0, timestamp: 0, payload: payload, chunkStreamID: ChunkStreamID.control)
    }

    static func word(_ value: UInt32) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 4)
        buffer.writeInteger(value)
        return buffer
    }

    public static func setChunkSize(_ size: Int) -> RTMPMessage {
        message(.setChunkSize, word(UInt32(size) & 0x7FFF_FFFF))
    }

    public static func acknowledgement(sequenceNumber: UInt32) -> RTMPMessage {
        message(.acknowledgement, word(sequenceNumber))
    }

    public static func windowAcknowledgementSize(_ size: UInt32) -> RTMPMessage {
        message(.windowAcknowledgementSize, word(size))
    }

    public enum LimitType: UInt8, Sendable { case hard = 0, soft = 1, dynamic = 2 }

    public static func setPeerBandwidth(_ size: UInt32, limit: LimitType) -> RTMPMessage {
        var buffer = word(size)
        buffer.writeInteger(limit.rawValue)
        return message(.setPeerBandwidth, buffer)
    }

    public static func userControl(_ event: UserControlEvent) -> RTMPMessage {
        message(.userControl, event.encode())
    }
}
