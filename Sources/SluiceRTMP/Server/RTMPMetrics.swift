import Metrics

/// What the RTMP server counts for `/metrics` (names as Prometheus shows them). Through
/// swift-metrics: with no metrics system bootstrapped (tests, tools) they cost nothing.
enum RTMPMetrics {
    static let connections = Meter(label: "sluice_connections", dimensions: [("protocol", "rtmp")])
    static let bytesSent = Counter(label: "sluice_bytes_sent_total", dimensions: [("protocol", "rtmp")])
    static let switches = Counter(label: "sluice_switches_total")

    static func playStarted(distribution: String) {
        Counter(label: "sluice_play_starts_total", dimensions: [("distribution", distribution)]).increment()
        Meter(label: "sluice_streams_playing", dimensions: [("distribution", distribution)]).increment()
    }

    static func playEnded(distribution: String) {
        Meter(label: "sluice_streams_playing", dimensions: [("distribution", distribution)]).decrement()
    }

    /// A refused connect (CloudFront's code) or play (`NetStream.Play.StreamNotFound`).
    static func refused(code: String) {
        Counter(label: "sluice_refusals_total", dimensions: [("code", code)]).increment()
    }
}
