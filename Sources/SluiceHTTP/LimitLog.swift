import Logging
import Synchronization

/// One log line when a limit closes or refuses something, at most one per reason per
/// interval: a flood of refused connections must not become a flood of log lines. The
/// line after a quiet spell says how many were closed in between.
public final class LimitLog: Sendable {
    private struct Entry {
        var lastLogged: ContinuousClock.Instant
        var suppressed: Int
    }

    private let logger: Logger
    private let interval: Duration
    private let entries = Mutex<[String: Entry]>([:])

    public init(logger: Logger, interval: Duration = .seconds(10)) {
        self.logger = logger
        self.interval = interval
    }

    /// Reports that `reason` closed or refused `what` (a peer address, a connection).
    /// Reasons that differ only after their first colon (the details a client chose)
    /// share one budget of lines.
    public func closed(_ what: String, reason: String, now: ContinuousClock.Instant = .now) {
        let kind = reason.split(separator: ":", maxSplits: 1).first.map(String.init) ?? reason
        let suppressed: Int? = entries.withLock { entries in
            if var entry = entries[kind], now < entry.lastLogged + interval {
                entry.suppressed += 1
                entries[kind] = entry
                return nil
            }
            let earlier = entries[kind]?.suppressed ?? 0
            entries[kind] = Entry(lastLogged: now, suppressed: 0)
            return earlier
        }
        guard let suppressed else { return }
        let more = suppressed > 0 ? " (and \(suppressed) more since the last such line)" : ""
        logger.warning("limit: closed \(what): \(reason)\(more)")
    }
}
