import NIOCore
import SluiceMedia

/// An RTMP command (RTMP specification 7.1.1 and 7.2): a name, a transaction id, a command
/// object and arguments, in AMF0 (type 20) or, for AMF3 clients, type 17 (a zero byte, then
/// AMF0 values that may switch to AMF3 one value at a time).
public struct RTMPCommand: Equatable, Sendable {
    public var name: String
    public var transactionID: Double
    public var commandObject: AMFValue
    public var arguments: [AMFValue]

    public init(name: String, transactionID: Double, commandObject: AMFValue = .null, arguments: [AMFValue] = []) {
        self.name = name
        self.transactionID = transactionID
        self.commandObject = commandObject
        self.arguments = arguments
    }

    public static func decode(_ message: RTMPMessage) throws(RTMPProtocolError) -> RTMPCommand {
        let values = try decodeValues(message)
        guard let name = values.first?.stringValue else {
            throw .malformedMessage("command without a name")
        }
        return RTMPCommand(
            name: name,
            transactionID: values.count > 1 ? values[1].doubleValue ?? 0 : 0,
            commandObject: values.count > 2 ? values[2] : .null,
            arguments: values.count > 3 ? Array(values[3...]) : [])
    }

    /// The AMF values of a command or data message of either encoding.
    public static func decodeValues(_ message: RTMPMessage) throws(RTMPProtocolError) -> [AMFValue] {
        var bytes = message.payload.getBytes(at: message.payload.readerIndex, length: message.payload.readableBytes) ?? []
        if message.typeID == RTMPMessageType.commandAMF3.rawValue || message.typeID == RTMPMessageType.dataAMF3.rawValue,
           bytes.first == 0 {
            bytes.removeFirst()
        }
        do {
            return try AMF0.decodeAll(bytes)
        } catch {
            throw .malformedMessage("AMF: \(error)")
        }
    }

    /// Encodes the command; `amf3` gives a type-17 message with the AMF3 object values.
    public func message(streamID: UInt32, chunkStreamID: UInt32, amf3: Bool = false) -> RTMPMessage {
        var values: [AMFValue] = [.string(name), .number(transactionID), commandObject]
        values.append(contentsOf: arguments)
        return Self.message(values: values, type: amf3 ? .commandAMF3 : .commandAMF0, streamID: streamID, chunkStreamID: chunkStreamID)
    }

    /// An `onStatus` call on a stream, the way every stream status travels.
    public static func onStatus(_ info: AMFValue, streamID: UInt32, amf3: Bool) -> RTMPMessage {
        RTMPCommand(name: "onStatus", transactionID: 0, commandObject: .null, arguments: [info])
            .message(streamID: streamID, chunkStreamID: ChunkStreamID.streamCommand, amf3: amf3)
    }

    /// A data message (`onMetaData`, `|RtmpSampleAccess`, `onPlayStatus`).
    public static func dataMessage(_ values: [AMFValue], streamID: UInt32, timestamp: UInt32 = 0, amf3: Bool = false) -> RTMPMessage {
        var message = Self.message(values: values, type: amf3 ? .dataAMF3 : .dataAMF0, streamID: streamID, chunkStreamID: ChunkStreamID.streamCommand)
        message.timestamp = timestamp
        return message
    }

    static func message(values: [AMFValue], type: RTMPMessageType, streamID: UInt32, chunkStreamID: UInt32) -> RTMPMessage {
        var writer = ByteWriter(capacity: 256)
        let amf3 = type == .commandAMF3 || type == .dataAMF3
        if amf3 { writer.write(UInt8(0)) }
        for value in values {
            if amf3, case .object = value {
                // Objects travel as AMF3 for an AMF3 client, as FMS sends them.
                writer.write(UInt8(0x11))
                writer.write(contentsOf: AMF3.encode(value))
            } else {
                AMF0.encode(value, into: &writer)
            }
        }
        var buffer = ByteBufferAllocator().buffer(capacity: writer.count)
        buffer.writeBytes(writer.bytes)
        return RTMPMessage(typeID: type.rawValue, streamID: streamID, timestamp: 0, payload: buffer, chunkStreamID: chunkStreamID)
    }
}
