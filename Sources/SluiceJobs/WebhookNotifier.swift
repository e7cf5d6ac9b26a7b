import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging

/// Tells a job's webhook URL how it ended: one JSON POST, retried with growing delays
/// on failure, on its own task so the runner never waits for it.
public struct WebhookNotifier: Sendable {
    let logger: Logger
    /// Attempts per notification, and the first delay (doubling).
    var attempts = 5
    var firstDelay: TimeInterval = 1

    public static func payload(_ job: Job) -> Data {
        var object: [String: Any] = [
            "id": job.id, "state": job.state.rawValue, "input": job.spec.originalName ?? job.spec.input, "asset": job.spec.asset,
            "bucket": job.spec.bucket, "prefix": job.spec.keyPrefix, "objects": job.published, "metadata": job.spec.metadata,
            "attempts": job.attempts,
        ]
        if let reason = job.reason, job.state != .done { object["reason"] = reason }
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }

    func notify(_ job: Job) {
        guard let text = job.spec.webhook, let url = URL(string: text) else { return }
        let body = Self.payload(job)
        let logger = self.logger, attempts = self.attempts, firstDelay = self.firstDelay
        Task.detached {
            var delay = firstDelay
            for attempt in 1...attempts {
                var request = URLRequest(url: url, timeoutInterval: 10)
                request.httpMethod = "POST"
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                request.setValue("sluice", forHTTPHeaderField: "User-Agent")
                request.httpBody = body
                do {
                    let (_, response) = try await URLSession.shared.data(for: request)
                    let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                    if (200..<300).contains(status) {
                        logger.info("job \(job.id): webhook \(text) answered \(status)")
                        return
                    }
                    logger.warning("job \(job.id): webhook \(text) answered \(status) (attempt \(attempt) of \(attempts))")
                } catch {
                    logger.warning("job \(job.id): webhook \(text) failed: \(error.localizedDescription) (attempt \(attempt) of \(attempts))")
                }
                try? await Task.sleep(for: .seconds(delay))
                delay *= 2
            }
            logger.error("job \(job.id): gave up on webhook \(text)")
        }
    }
}
