import Metrics
import SluiceHTTP

/// What the RTMP server counts for `/metrics` (names as Prometheus shows them). Through
/// swift-metrics: with no metrics system bootstrapped (tests, tools) they cost nothing.
/// Labelled metrics are made once per label and kept: making one looks it up in the
/// registry under its lock, which a play should not pay each time.
enum RTMPMetrics {
    static let connections = Meter(label: "sluice_connections", dimensions: [("protocol", "rtmp")])
    static let bytesSent = Counter(label: "sluice_bytes_sent_total", dimensions: [("protocol", "rtmp")])
    static let switches = Counter(label: "sluice_switches_total")
    private static let playStarts = LabelledMetrics { Counter(label: "sluice_play_starts_total", dimensions: [("distribution", $0)]) }
    private static let streamsPlaying = LabelledMetrics { Meter(label: "sluice_streams_playing", dimensions: [("distribution", $0)]) }
    private static let refusals = LabelledMetrics { Counter(label: "sluice_refusals_total", dimensions: [("code", $0)]) }

    static func playStarted(distribution: String) {
        playStarts[distribution].increment()
        streamsPlaying[distribution].increment()
    }

    static func playEnded(distribution: String) {
        streamsPlaying[distribution].decrement()
    }

    /// A refused connect (CloudFront's code) or play (`NetStream.Play.StreamNotFound`).
    static func refused(code: String) {
        refusals[code].increment()
    }
}
