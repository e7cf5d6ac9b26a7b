import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SluiceHTTP
import Synchronization

/// The public HTTP listener (port 80, or 8080 when 80 cannot be bound): the Flash
/// cross-domain policy, RTMPT, and RTMP itself told apart by its first byte; `serve`
/// adds basic-distribution delivery, routed by Host.
public final class PublicHTTPServer: Sendable {
    /// CloudFront served a fixed allow-all policy for streaming distributions.
    public static let crossDomainPolicy = """
        <?xml version="1.0"?>
        <!DOCTYPE cross-domain-policy SYSTEM "http://www.adobe.com/xml/dtds/cross-domain-policy.dtd">
        <cross-domain-policy>
          <allow-access-from domain="*" secure="false"/>
          <site-control permitted-cross-domain-policies="all"/>
        </cross-domain-policy>

        """

    private let group: any EventLoopGroup
    private let logger: Logger
    private let server = Mutex<HTTPServer?>(nil)
    private let limits: HTTPLimits
    private let maximumConnections: Int
    private let maximumConnectionsPerAddress: Int

    public init(group: any EventLoopGroup, logger: Logger, limits: HTTPLimits = HTTPLimits(), maximumConnections: Int = 2000,
                maximumConnectionsPerAddress: Int = 128) {
        self.group = group
        self.logger = logger
        self.limits = limits
        self.maximumConnections = maximumConnections
        self.maximumConnectionsPerAddress = maximumConnectionsPerAddress
    }

    /// Binds `host:port` on the shared HTTP server core; returns the bound port.
    @discardableResult
    public func start(host: String, port: Int, rtmp: RTMPServer? = nil) async throws -> Int {
        try await start(host: host, port: port, responder: PublicResponder(logger: logger, tunnel: rtmp?.makeTunnel()), rtmp: rtmp)
    }

    /// The same, answering with `responder` (the server's site: distributions by Host).
    @discardableResult
    public func start<Responder: HTTPResponder>(host: String, port: Int, responder: Responder, rtmp: RTMPServer? = nil) async throws -> Int {
        var configuration = HTTPServerConfiguration(name: "HTTP", host: host, port: port, limits: limits, maximumConnections: maximumConnections,
                                                    maximumConnectionsPerAddress: maximumConnectionsPerAddress)
        // Small objects whose lookup is remembered are answered on the event loop.
        configuration.immediateAnswers = true
        if let rtmp {
            // RTMP and RTMPE on the HTTP port, for players behind firewalls that pass only
            // port 80: their first byte (the handshake type) is never an HTTP method's.
            configuration.handoff = ProtocolHandoff(name: "RTMP", claims: { [3, 6, 8, 9].contains($0) }, adopt: { try rtmp.adopt($0) })
        }
        configuration.idleTimeout = limits.keepAliveTimeout + limits.headTimeout
        let http = HTTPServer(configuration: configuration, group: group, threadPool: .singleton, logger: logger) { status, reason in
            ("text/plain; charset=utf-8", "\(status.code) \(status.reasonPhrase): \(reason)\n")
        }
        let bound = try await http.start(responder)
        server.withLock { $0 = http }
        logger.info("HTTP listening on \(host):\(bound) (crossdomain.xml\(rtmp == nil ? "" : ", basic distributions; RTMP and RTMPE too"))")
        return bound
    }

    public func shutdown() async {
        await server.withLock { $0 }?.shutdown()
    }
}

/// What the public port answers without distributions: the cross-domain policy, and
/// RTMPT when the RTMP server is given.
struct PublicResponder: HTTPResponder {
    let logger: Logger
    let tunnel: RTMPTunnel?

    func respond(to head: HTTPRequestHead, connection: HTTPConnection, context: HTTPRequestContext) async -> HTTPReply {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        if head.method == .POST, let tunnel, let command = RTMPTunnel.Command(path: path) {
            return await tunnel.respond(to: command, host: HostHeader.name(head.headers.first(name: "host")), connection: connection, context: context)
        }
        if path == "/crossdomain.xml", head.method == .GET || head.method == .HEAD {
            return .data(.ok, [("Content-Type", "text/x-cross-domain-policy")], PublicHTTPServer.crossDomainPolicy)
        }
        return .data(.notFound, [("Content-Type", "text/plain; charset=utf-8")], "Not Found\n")
    }

    func exchangeOnEventLoop(for head: HTTPRequestHead, context: HTTPRequestContext) -> EventLoopExchange<HTTPReply>? {
        tunnel?.exchange(for: head, host: HostHeader.name(head.headers.first(name: "host")), context: context)
    }

    func written(_ answer: HTTPReply, for head: HTTPRequestHead, context: HTTPRequestContext, elapsed: Duration) {
        logger.debug("HTTP \(head.method) \(head.uri) -> \(answer.status.code)")
    }
}
