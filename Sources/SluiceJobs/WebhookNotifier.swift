import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Tells a job's webhook URL how it ended: one JSON POST, retried with growing delays on
/// failure, on its own task so the runner never waits for it. A command that is about to
/// exit asks `waitForDeliveries` first, so that a one-shot `sluice jobs run` does not cut
/// off the notifications of the jobs it just ran.
public final class WebhookNotifier: Sendable {
    let logger: Logger
    /// Attempts per notification, and the first delay (doubling).
    let attempts: Int
    let firstDelay: TimeInterval
    /// One attempt may take this long, connect to last byte.
    let attemptTimeout: TimeAmount
    private let pending = Atomic<Int>(0)

    public init(logger: Logger, attempts: Int = 5, firstDelay: TimeInterval = 1, attemptTimeout: TimeAmount = .seconds(10)) {
        self.logger = logger
        self.attempts = max(1, attempts)
        self.firstDelay = firstDelay
        self.attemptTimeout = attemptTimeout
    }

    public static func payload(_ job: Job) -> Data {
        var object: [String: Any] = [
            "id": job.id, "state": job.state.rawValue, "input": job.spec.originalName ?? job.spec.input, "asset": job.spec.asset,
            "bucket": job.spec.bucket, "prefix": job.spec.keyPrefix, "objects": job.published, "metadata": job.spec.metadata,
            "attempts": job.attempts,
        ]
        if let reason = job.reason, job.state != .done { object["reason"] = reason }
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }

    /// Notifications not yet delivered or given up on.
    public var pendingDeliveries: Int { pending.load(ordering: .relaxed) }

    func notify(_ job: Job) {
        guard let url = job.spec.webhook, !url.isEmpty else { return }
        let body = Self.payload(job)
        pending.add(1, ordering: .relaxed)
        Task.detached { [self] in
            defer { pending.subtract(1, ordering: .relaxed) }
            await deliver(body, to: url, jobID: job.id)
        }
    }

    private func deliver(_ body: Data, to url: String, jobID: Int64) async {
        var delay = firstDelay
        for attempt in 1...attempts {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "sluice")
            request.body = .bytes(ByteBuffer(bytes: body))
            let outcome: String
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: attemptTimeout)
                // The receiver's answer is not used; read it so the connection can be reused.
                _ = try? await response.body.collect(upTo: 1 << 20)
                if (200..<300).contains(response.status.code) {
                    logger.info("job \(jobID): webhook \(url) answered \(response.status.code)")
                    return
                }
                outcome = "answered \(response.status.code)"
            } catch {
                outcome = "failed: \(error)"
            }
            guard attempt < attempts else {
                logger.error("job \(jobID): webhook \(url) \(outcome); gave up after \(attempts) attempts")
                return
            }
            logger.warning("job \(jobID): webhook \(url) \(outcome) (attempt \(attempt) of \(attempts)); again in \(delay) s")
            try? await Task.sleep(for: .seconds(delay))
            delay *= 2
        }
    }

    /// Blocks until every notification is delivered or given up on, or `timeout` passes;
    /// true when none is left.
    @discardableResult
    public func waitForDeliveries(upTo timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var said = false
        while pendingDeliveries > 0 {
            guard Date() < deadline else {
                logger.warning("\(pendingDeliveries) webhook notification(s) not delivered before exit")
                return false
            }
            if !said {
                logger.info("waiting for \(pendingDeliveries) webhook notification(s)")
                said = true
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return true
    }
}
