import SluiceMedia

/// Measures how fast a player takes data, as Flash Media Server's bandwidth check did:
/// a small call for the round trip, then a burst of large calls; the player answers each
/// `_result` only once it has read it, so the spacing of the answers is its read rate,
/// whatever the socket buffers on the way hold.
///
/// Two styles: FMS's (the player calls `checkBandwidth`; the server calls `onBWCheck`
/// and ends with `onBWDone(kbitDown, deltaDown, deltaTime, latency)`) and librtmp's (the
/// player calls `_checkbw`; `_onbwcheck`, then `_onbwdone` with the same figures).
/// Pure: the connection feeds it the time and the answers.
struct BandwidthCheck {
    enum Style: Equatable {
        case fms
        case librtmp

        var checkName: String { self == .fms ? "onBWCheck" : "_onbwcheck" }
        var doneName: String { self == .fms ? "onBWDone" : "_onbwdone" }
    }

    /// The figures a player gets.
    struct Result: Equatable {
        var kilobitsPerSecond: Double
        /// Kilobytes whose reading was timed.
        var kilobytes: Double
        /// Milliseconds that reading took.
        var milliseconds: UInt64
        /// The round trip of a small call, milliseconds.
        var latency: UInt64
    }

    /// Calls in a burst and the size of each: 512 KB, two seconds at 2 Mbit/s. A player
    /// slower than that answers part of the burst before the deadline.
    static let burstCalls = 16
    static let payloadBytes = 32 * 1024
    /// Calls unanswered at once: enough to keep the link busy, few enough that a slow
    /// player is not left with half a megabyte to read after the check ends.
    static let window = 4
    /// The longest a check lasts; then the answers so far make the figure.
    static let deadline: UInt64 = 4000
    /// The fastest figure reported (a loopback client reads a burst in no measurable time).
    static let maximumKilobits = 10_000_000.0
    private static let payload = AMFValue.string(String(repeating: "sluice-bandwidth-check-", count: payloadBytes / 23 + 1).prefix(payloadBytes).description)

    let style: Style
    let startedAt: UInt64
    private var latencyCall: Double
    private var latency: UInt64?
    private var burst: Set<Double> = []
    private var burstSent = 0
    private var answers: [UInt64] = []

    /// Starts a check; `send` gets each call to make, with the transaction ID it carries.
    init(style: Style, now: UInt64, transactionIDs: inout Double, send: (RTMPCommand) -> Void) {
        self.style = style
        startedAt = now
        latencyCall = transactionIDs
        transactionIDs += 1
        send(RTMPCommand(name: style.checkName, transactionID: latencyCall, arguments: [.number(0)]))
    }

    var deadlineAt: UInt64 { startedAt + Self.deadline }

    /// A `_result` (or `_error`) for `transactionID` arrived at `now`. Returns the result
    /// when the check is over.
    mutating func answer(_ transactionID: Double, now: UInt64, transactionIDs: inout Double, send: (RTMPCommand) -> Void) -> Result? {
        if transactionID == latencyCall, latency == nil {
            latency = now > startedAt ? now - startedAt : 0
            sendBurst(upTo: Self.window, transactionIDs: &transactionIDs, send: send)
            return nil
        }
        guard burst.remove(transactionID) != nil else { return nil }
        answers.append(now)
        if now < deadlineAt { sendBurst(upTo: Self.window, transactionIDs: &transactionIDs, send: send) }
        return burst.isEmpty ? result() : nil
    }

    /// Keeps `limit` burst calls unanswered, until all of them have been sent.
    private mutating func sendBurst(upTo limit: Int, transactionIDs: inout Double, send: (RTMPCommand) -> Void) {
        while burst.count < limit, burstSent < Self.burstCalls {
            burstSent += 1
            burst.insert(transactionIDs)
            send(RTMPCommand(name: style.checkName, transactionID: transactionIDs, arguments: [.number(Double(burstSent)), Self.payload]))
            transactionIDs += 1
        }
    }

    /// The deadline passed: what was measured so far.
    func expire(now: UInt64) -> Result? {
        now >= deadlineAt ? result() : nil
    }

    /// From the first answer of the burst to the last: the bytes of the calls in between
    /// were read in that time. With one answer or none, the whole time since the burst
    /// was sent (less the round trip) stands in.
    private func result() -> Result {
        let roundTrip = latency ?? 0
        let kilobytes: Double
        let milliseconds: UInt64
        if answers.count >= 2, let first = answers.first, let last = answers.last {
            kilobytes = Double((answers.count - 1) * Self.payloadBytes) / 1024
            milliseconds = last > first ? last - first : 0
        } else {
            kilobytes = Double(answers.count * Self.payloadBytes) / 1024
            let sentAt = startedAt + roundTrip
            let end = answers.last ?? deadlineAt
            milliseconds = end > sentAt ? end - sentAt : 0
        }
        let kilobits = milliseconds > 0 ? kilobytes * 1024 * 8 / 1000 / (Double(milliseconds) / 1000) : Self.maximumKilobits
        return Result(kilobitsPerSecond: min(kilobits.rounded(), Self.maximumKilobits), kilobytes: kilobytes,
                      milliseconds: milliseconds, latency: roundTrip)
    }

    /// The call that ends a check.
    func doneCall(_ result: Result) -> RTMPCommand {
        RTMPCommand(name: style.doneName, transactionID: 0, arguments: [
            .number(result.kilobitsPerSecond), .number(result.kilobytes.rounded()), .number(Double(result.milliseconds)), .number(Double(result.latency)),
        ])
    }
}
