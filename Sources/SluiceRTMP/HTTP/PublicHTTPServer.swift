import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SluiceHTTP
import Synchronization

/// The public HTTP listener (port 80, or 8080 when 80 cannot be bound). It carries the
/// Flash cross-domain policy now; RTMPT and basic-distribution delivery join it, routed
/// by Host.
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
    private let listener = Mutex<(any Channel)?>(nil)
    private let limits: HTTPLimits
    private let connections: ConnectionLimiter
    private let limitLog: LimitLog

    public init(group: any EventLoopGroup, logger: Logger, limits: HTTPLimits = HTTPLimits(), maximumConnections: Int = 2000,
                maximumConnectionsPerAddress: Int = 128) {
        self.group = group
        self.logger = logger
        self.limits = limits
        connections = ConnectionLimiter(maximum: maximumConnections, maximumPerAddress: maximumConnectionsPerAddress)
        limitLog = LimitLog(logger: logger)
    }

    /// Binds `host:port`; returns the bound port.
    @discardableResult
    public func start(host: String, port: Int) async throws -> Int {
        let (logger, limits, connections, limitLog) = (self.logger, self.limits, self.connections, self.limitLog)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let address = channel.remoteAddress?.ipAddress ?? "?"
                if let refusal = connections.admit(address) {
                    limitLog.closed("HTTP connection from \(address)", reason: refusal.description)
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in connections.release(address) }
                return channel.eventLoop.makeCompletedFuture {
                    try addHTTPServerHandlers(to: channel.pipeline.syncOperations, limits: limits, limitLog: limitLog) { status, reason in
                        ("text/plain; charset=utf-8", "\(status.code) \(status.reasonPhrase): \(reason)\n")
                    }
                    try channel.pipeline.syncOperations.addHandler(PublicHTTPHandler(logger: logger))
                }
            }
            .bind(host: host, port: port).get()
        listener.withLock { $0 = channel }
        let bound = channel.localAddress?.port ?? port
        logger.info("HTTP listening on \(host):\(bound) (crossdomain.xml)")
        return bound
    }

    public func shutdown() async {
        let channel = listener.withLock { $0 }
        try? await channel?.close()
    }
}

final class PublicHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let logger: Logger
    private var request: HTTPRequestHead?

    init(logger: Logger) {
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let status: HTTPResponseStatus
        let body: String
        var headers = HTTPHeaders()
        if path == "/crossdomain.xml", head.method == .GET || head.method == .HEAD {
            status = .ok
            body = PublicHTTPServer.crossDomainPolicy
            headers.add(name: "Content-Type", value: "text/x-cross-domain-policy")
        } else {
            status = .notFound
            body = "Not Found\n"
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        }
        logger.debug("HTTP \(head.method) \(head.uri) -> \(status.code)")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Server", value: "Sluice")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            done.whenComplete { [context] _ in context.close(promise: nil) }
        }
    }
}
