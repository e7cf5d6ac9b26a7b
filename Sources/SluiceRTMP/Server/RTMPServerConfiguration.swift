/// Limits and tunables of the RTMP listener. The defaults suit a public server.
public struct RTMPServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Connections beyond this are closed as soon as they are accepted.
    public var maximumConnections: Int
    /// Connections still in the handshake at once: beyond this, new ones are closed as
    /// soon as they are accepted (a flood of sockets that never handshake).
    public var maximumHandshakes: Int
    /// Seconds a client has to complete the handshake and `connect`.
    public var handshakeTimeout: Double
    /// Seconds without a byte from the client before the connection is dropped.
    public var idleTimeout: Double
    /// Seconds of client silence after which the server pings it.
    public var pingInterval: Double
    /// Seconds that running plays are given to finish on shutdown before they are stopped.
    public var shutdownGrace: Double
    public var session: RTMPSession.Configuration
    public var decoderLimits: ChunkDecoder.Limits
    /// Hears the events of connections routed by a distribution (its access log).
    public var streamEvents: (any StreamEventSink)?

    public init(
        host: String = "0.0.0.0", port: Int = 1935, maximumConnections: Int = 2000, maximumHandshakes: Int = 200,
        handshakeTimeout: Double = 10, idleTimeout: Double = 120, pingInterval: Double = 30,
        shutdownGrace: Double = 5, session: RTMPSession.Configuration = .init(),
        decoderLimits: ChunkDecoder.Limits = .init()
    ) {
        self.host = host
        self.port = port
        self.maximumConnections = maximumConnections
        self.maximumHandshakes = maximumHandshakes
        self.handshakeTimeout = handshakeTimeout
        self.idleTimeout = idleTimeout
        self.pingInterval = pingInterval
        self.shutdownGrace = shutdownGrace
        self.session = session
        self.decoderLimits = decoderLimits
    }
}
