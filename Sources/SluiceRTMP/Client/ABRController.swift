/// Chooses renditions as a dynamic-streaming player does, from what it can observe:
/// how much media it holds ahead of the playhead, and how fast bytes arrive.
///
/// Down: the buffer runs low while bytes arrive slower than the rendition needs. Up: the
/// server only sends a rendition as fast as it plays once the buffer is full, so spare
/// capacity is invisible; every few seconds the controller asks for a longer buffer, and
/// the burst the server sends to fill it shows what the link carries. Pure: the caller
/// feeds it the time and the figures, and performs its decisions.
public struct ABRController: Sendable {
    public enum Decision: Equatable, Sendable {
        case switchTo(rung: Int)
        /// Ask for this buffer length (milliseconds).
        case setBuffer(milliseconds: UInt32)
    }

    public let ladder: Ladder
    public private(set) var current: Int
    /// Seconds of media the player keeps ahead.
    public let bufferTarget: Double
    /// How much longer the buffer asked for while probing is, seconds.
    static let probeExtra = 4.0
    /// A rendition is chosen only if the link carries this much more than it needs.
    static let headroom = 1.25

    private var lastSwitch = 0.0
    private var lastProbe = 0.0
    private var probe: (startedAt: Double, bytes: Int)?
    /// The last link speed a probe measured, kbit/s.
    public private(set) var lastProbeKilobits: Double?

    /// Starts on the highest rung the measured bandwidth carries (the lowest without one).
    public init(ladder: Ladder, bandwidth: Double?, bufferTarget: Double = 4) {
        self.ladder = ladder
        self.bufferTarget = bufferTarget
        current = bandwidth.map { Self.fitting(ladder, kilobits: $0) } ?? ladder.rungs.count - 1
    }

    /// The highest rung whose bitrate, with headroom, fits `kilobits`; the lowest if none.
    static func fitting(_ ladder: Ladder, kilobits: Double) -> Int {
        ladder.rungs.firstIndex { Double($0.kilobits) * headroom <= kilobits } ?? ladder.rungs.count - 1
    }

    /// - Parameters:
    ///   - now: seconds since playback began.
    ///   - buffer: seconds of media held ahead of the playhead.
    ///   - throughput: kbit/s arriving over the last couple of seconds.
    ///   - bytes: every byte received so far.
    public mutating func tick(now: Double, buffer: Double, throughput: Double, bytes: Int) -> [Decision] {
        var decisions: [Decision] = []
        if let probe {
            let elapsed = now - probe.startedAt
            guard buffer >= bufferTarget + Self.probeExtra - 0.5 || elapsed >= 5 else { return [] }
            self.probe = nil
            lastProbe = now
            decisions.append(.setBuffer(milliseconds: UInt32(bufferTarget * 1000)))
            let measured = elapsed > 0 ? Double(bytes - probe.bytes) * 8 / 1000 / elapsed : 0
            lastProbeKilobits = measured
            let best = Self.fitting(ladder, kilobits: measured)
            if best < current {
                current = best
                lastSwitch = now
                decisions.append(.switchTo(rung: best))
            }
            return decisions
        }
        let needed = Double(ladder.rungs[current].kilobits)
        if now - lastSwitch >= 2, buffer < 1.5, throughput < needed, current < ladder.rungs.count - 1 {
            current = max(current + 1, Self.fitting(ladder, kilobits: throughput))
            lastSwitch = now
            return [.switchTo(rung: current)]
        }
        if current > 0, buffer >= bufferTarget - 0.5, now - lastSwitch >= 3, now - lastProbe >= 5 {
            probe = (now, bytes)
            return [.setBuffer(milliseconds: UInt32((bufferTarget + Self.probeExtra) * 1000))]
        }
        return []
    }
}
