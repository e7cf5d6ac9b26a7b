import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import SluiceHTTP
import SluiceControl
import SluiceJobs
import SluiceStore
import Synchronization

/// The control port (`control.port`, 8090): Prometheus `/metrics` and `/health` now; the
/// CloudFront-compatible control API joins them here.
enum ControlPort {
    /// Where every metric of the process goes; bootstrapped once, before any server starts.
    static let registry = PrometheusCollectorRegistry()

    static func bootstrapMetrics() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    static func start(host: String, port: Int, limits: HTTPLimits, dataFolder: String, api: ControlAPI, users: UserDirectorySource,
                      group: any EventLoopGroup, threadPool: NIOThreadPool, logger: Logger) async throws -> HTTPServer {
        let configuration = HTTPServerConfiguration(name: "control", host: host, port: port, limits: limits)
        let server = HTTPServer(configuration: configuration, group: group, threadPool: threadPool, logger: logger) { status, reason in
            ("text/plain; charset=utf-8", "\(status.code) \(status.reasonPhrase): \(reason)\n")
        }
        let bound = try await Listener.bind("the control port", host: host, port: port, flag: "--control-port") {
            try await server.start(ControlPortResponder(jobStates: JobStateGauges(dataFolder: dataFolder), api: api, users: users,
                                                        threadPool: threadPool, logger: logger))
        }
        logger.info("control port listening on \(host):\(bound) (the control API, signed for service cloudfront; /metrics, /health)")
        return server
    }
}

struct ControlPortResponder: HTTPResponder {
    let jobStates: JobStateGauges
    let api: ControlAPI
    /// Administrators' keys sign the control API.
    let users: UserDirectorySource
    let threadPool: NIOThreadPool
    let logger: Logger
    /// The largest config document (CloudFront's are a few KB).
    static let maximumBody = 1 << 20

    func respond(to head: HTTPRequestHead, connection: HTTPConnection, context: HTTPRequestContext) async -> HTTPReply {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        if let version = APIVersion.allCases.first(where: { path.hasPrefix("/\($0.rawValue)/") }) {
            return await control(head, connection: connection, context: context, version: version)
        }
        guard head.method == .GET || head.method == .HEAD else {
            return .data(.methodNotAllowed, [("Allow", "GET, HEAD")], "405 Method Not Allowed\n")
        }
        switch path {
        case "/metrics":
            // Jobs by state are read from the queue when asked, not kept up to date.
            _ = try? await threadPool.runIfActive { jobStates.record() }
            return .data(.ok, [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], ControlPort.registry.emitToString())
        case "/health":
            return .data(.ok, [("Content-Type", "text/plain; charset=utf-8")], "ok\n")
        default:
            return .data(.notFound, [], "404 Not Found: \(path.prefix(200))\n")
        }
    }

    func written(_ answer: HTTPReply, for head: HTTPRequestHead, context: HTTPRequestContext, elapsed: Duration) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let level: Logger.Level = APIVersion.allCases.contains { path.hasPrefix("/\($0.rawValue)/") } ? .info : .debug
        logger.log(level: level, "control \(context.peer?.ipAddress ?? "-") \(head.method) \(path.prefix(200)) \(answer.status.code) id=\(context.requestID)")
    }

    /// A control API request: the body read (at most 1 MB), the Signature V4 for service
    /// `cloudfront` checked with an administrator's key pair, then the socket-free core.
    func control(_ head: HTTPRequestHead, connection: HTTPConnection, context: HTTPRequestContext, version: APIVersion) async -> HTTPReply {
        var body: [UInt8] = []
        do {
            while let part = try await connection.nextBodyPart() {
                guard body.count + part.readableBytes <= Self.maximumBody else {
                    return reply(ControlError("MalformedInput", 400, "The request body is larger than 1 MB."), version: version, context: context)
                }
                body += part.readableBytesView
            }
        } catch {
            return reply(ControlError("MalformedInput", 400, "The request body did not arrive whole."), version: version, context: context)
        }
        let (rawPath, query) = S3Router.splitTarget(head.uri)
        guard head.headers.contains(name: "authorization") else {
            return reply(ControlError("AccessDenied", 403, "Access denied: sign requests with AWS Signature Version 4 for service cloudfront."),
                         version: version, context: context)
        }
        let signed = SignatureV4.Request(method: head.method.rawValue, path: rawPath, query: query,
                                         headers: head.headers.map { ($0.name, $0.value) })
        let directory: UserDirectory
        do {
            directory = try await users.current(on: threadPool)
        } catch {
            return reply(ControlError("ServiceUnavailable", 503, "The users cannot be read: \(error)"), version: version, context: context)
        }
        let keys = directory.administratorKeys
        switch SignatureV4.verify(signed, service: "cloudfront", body: body, now: Date(), allowedSkew: 15 * 60, secret: { keys[$0] }) {
        case .success:
            break
        case .failure(let failure):
            return reply(Self.error(failure), version: version, context: context)
        }
        let request = ControlAPI.Request(method: head.method.rawValue, path: rawPath.removingPercentEncoding ?? rawPath,
                                         query: Dictionary(query.map { ($0.name, $0.value) }) { first, _ in first },
                                         ifMatch: head.headers.first(name: "if-match"), body: body, requestID: context.requestID,
                                         host: head.headers.first(name: "host"))
        let response = api.handle(request)
        let headers = [("x-amz-request-id", context.requestID)] + response.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return .data(HTTPResponseStatus(statusCode: response.status), headers, response.body)
    }

    func reply(_ error: ControlError, version: APIVersion, context: HTTPRequestContext) -> HTTPReply {
        .data(HTTPResponseStatus(statusCode: error.status), [("Content-Type", "text/xml"), ("x-amz-request-id", context.requestID)],
              error.document(version: version, requestID: context.requestID))
    }

    static func error(_ failure: SignatureV4.Failure) -> ControlError {
        switch failure {
        case .malformed(let why): return ControlError("IncompleteSignature", 403, "The request signature is not valid: \(why).")
        case .unknownAccessKey: return ControlError("InvalidClientTokenId", 403, "The security token included in the request is invalid.")
        case .signatureDoesNotMatch:
            return ControlError("SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided.")
        case .expired: return ControlError("SignatureDoesNotMatch", 403, "Signature expired: x-amz-date is more than 15 minutes from the server's time.")
        }
    }

}

/// The `sluice_jobs{state}` gauges, set at each scrape from one count per state. The job
/// table is opened once, when it first exists (a server without a watch folder may never
/// make one; `sluice jobs` in another process may make it later).
final class JobStateGauges: Sendable {
    private let dataFolder: String
    private let queue = Mutex<JobQueue?>(nil)
    private let gauges = Dictionary(uniqueKeysWithValues: JobState.allCases.map {
        ($0, Gauge(label: "sluice_jobs", dimensions: [("state", $0.rawValue)]))
    })

    init(dataFolder: String) {
        self.dataFolder = dataFolder
    }

    func record() {
        let opened = queue.withLock { queue -> JobQueue? in
            if queue == nil, FileManager.default.fileExists(atPath: dataFolder + "/jobs.sqlite") {
                queue = try? JobQueue(dataFolder: dataFolder)
            }
            return queue
        }
        guard let opened, let counts = try? opened.countsByState() else { return }
        for (state, gauge) in gauges { gauge.record(counts[state] ?? 0) }
    }
}
