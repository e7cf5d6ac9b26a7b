import Foundation

/// What happened on a connection routed by a distribution, for its access log: the
/// events CloudFront's streaming logs had.
public struct StreamEvent: Sendable {
    public enum Kind: String, Sendable {
        case connect, play, seek, pause, unpause, stop, disconnect
    }

    public var kind: Kind
    public var time: Date
    /// Nil for the default distribution.
    public var distributionID: String?
    public var clientIP: String
    public var clientID: String
    /// Bytes sent on the connection so far.
    public var bytesSent: UInt64
    public var status: String
    public var tcUrl: String
    public var pageURL: String
    public var flashVersion: String
    /// For stream events.
    public var streamName: String
    public var streamID: UInt32?
}

/// Takes events without making the connection wait (it is called on the event loop).
public protocol StreamEventSink: Sendable {
    func record(_ event: StreamEvent)
}

extension RTMPConnection {
    /// Counts an event for the metrics, and reports it to the sink (the access logs).
    func streamEvent(_ kind: StreamEvent.Kind, name: String = "", streamID: UInt32? = nil, status: String = "OK") {
        guard let route = session.route else { return }
        let distribution = route.distributionID ?? "default"
        switch kind {
        case .play where status == "OK": RTMPMetrics.playStarted(distribution: distribution)
        case .play: RTMPMetrics.refused(code: status)
        case .stop: RTMPMetrics.playEnded(distribution: distribution)
        default: break
        }
        guard let sink = configuration.streamEvents else { return }
        let request = session.connectRequest
        sink.record(StreamEvent(kind: kind, time: Date(), distributionID: route.distributionID, clientIP: peerAddress, clientID: session.clientID,
                                bytesSent: bytesOut, status: status, tcUrl: request?.tcUrl ?? "", pageURL: request?.pageUrl ?? "",
                                flashVersion: request?.flashVersion ?? "", streamName: name, streamID: streamID))
    }
}
