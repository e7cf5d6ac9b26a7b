import NIOCore

/// RTMP message type ids (Adobe RTMP specification 1.0, 5.4 and 7.1).
public enum RTMPMessageType: UInt8, Sendable {
    case setChunkSize = 1
    case abort = 2
    case acknowledgement = 3
    case userControl = 4
    case windowAcknowledgementSize = 5
    case setPeerBandwidth = 6
    case audio = 8
    case video = 9
    case dataAMF3 = 15
    case sharedObjectAMF3 = 16
    case commandAMF3 = 17
    case dataAMF0 = 18
    case sharedObjectAMF0 = 19
    case commandAMF0 = 20
    case aggregate = 22
}

/// One whole message, reassembled from chunks or about to be split into them.
public struct RTMPMessage: Sendable {
    /// The raw type id; unknown types are kept so they can be logged and ignored.
    public var typeID: UInt8
    public var streamID: UInt32
    public var timestamp: UInt32
    public var payload: ByteBuffer
    /// The chunk stream it came on (or should go on).
    public var chunkStreamID: UInt32

    public init(typeID: UInt8, streamID: UInt32, timestamp: UInt32, payload: ByteBuffer, chunkStreamID: UInt32) {
        self.typeID = typeID
        self.streamID = streamID
        self.timestamp = timestamp
        self.payload = payload
        self.chunkStreamID = chunkStreamID
    }

    public var type: RTMPMessageType? { RTMPMessageType(rawValue: typeID) }
}

/// The chunk streams Sluice writes on, as nginx-rtmp numbers them.
public enum ChunkStreamID {
    public static let control: UInt32 = 2
    public static let connectionCommand: UInt32 = 3
    public static let streamCommand: UInt32 = 5
    public static let audio: UInt32 = 6
    public static let video: UInt32 = 7
}
