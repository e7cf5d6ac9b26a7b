import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import SluiceHTTP
import SluiceJobs

/// The control port (`control.port`, 8090): Prometheus `/metrics` and `/health` now; the
/// CloudFront-compatible control API joins them here.
enum ControlPort {
    /// Where every metric of the process goes; bootstrapped once, before any server starts.
    static let registry = PrometheusCollectorRegistry()

    static func bootstrapMetrics() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    static func start(host: String, port: Int, limits: HTTPLimits, dataFolder: String, group: any EventLoopGroup, threadPool: NIOThreadPool,
                      logger: Logger) async throws -> HTTPServer {
        var configuration = HTTPServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.limits = limits
        configuration.name = "control"
        let server = HTTPServer(configuration: configuration, group: group, threadPool: threadPool, logger: logger) { status, reason in
            ("text/plain; charset=utf-8", "\(status.code) \(status.reasonPhrase): \(reason)\n")
        }
        let bound = try await Listener.bind("the control port", host: host, port: port, flag: "--control-port") {
            try await server.start(ControlPortResponder(dataFolder: dataFolder, threadPool: threadPool, logger: logger))
        }
        logger.info("control port listening on \(host):\(bound) (/metrics, /health)")
        return server
    }
}

struct ControlPortResponder: HTTPResponder {
    let dataFolder: String
    let threadPool: NIOThreadPool
    let logger: Logger

    func respond(to head: HTTPRequestHead, connection: HTTPConnection, context: HTTPRequestContext) async -> HTTPReply {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard head.method == .GET || head.method == .HEAD else {
            return .data(.methodNotAllowed, [("Allow", "GET, HEAD")], "405 Method Not Allowed\n")
        }
        switch path {
        case "/metrics":
            // Jobs by state are read from the queue when asked, not kept up to date.
            _ = try? await threadPool.runIfActive { recordJobStates() }
            return .data(.ok, [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], ControlPort.registry.emitToString())
        case "/health":
            return .data(.ok, [("Content-Type", "text/plain; charset=utf-8")], "ok\n")
        default:
            return .data(.notFound, [], "404 Not Found: \(path.prefix(200))\n")
        }
    }

    func written(_ answer: HTTPReply, for head: HTTPRequestHead, context: HTTPRequestContext, elapsed: Duration) {
        logger.debug("control \(head.method) \(head.uri) -> \(answer.status.code)")
    }

    func recordJobStates() {
        guard FileManager.default.fileExists(atPath: dataFolder + "/jobs.sqlite"), let queue = try? JobQueue(dataFolder: dataFolder),
              let jobs = try? queue.list(states: nil) else { return }
        for state in JobState.allCases {
            Gauge(label: "sluice_jobs", dimensions: [("state", state.rawValue)]).record(jobs.filter { $0.state == state }.count)
        }
    }
}
