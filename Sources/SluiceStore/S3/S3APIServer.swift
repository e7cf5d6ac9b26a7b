import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SluiceHTTP
import Synchronization

public struct S3APIConfiguration: Sendable {
    public var host = "0.0.0.0"
    /// 0 picks a free port.
    public var port = 9000
    /// `BUCKET.DOMAIN` Host names are virtual-host style; anything else is path style.
    public var domains = ["localhost"]
    /// Answered by GetBucketLocation; clients may sign with any region.
    public var region = "us-east-1"
    /// Access key → secret key.
    public var credentials: [String: String] = [:]
    public var maximumConnections = 1000
    /// Connections one peer address may hold open.
    public var maximumConnectionsPerAddress = 128
    /// Request line, header and timing limits (slowloris).
    public var limits = HTTPLimits()
    /// How far a signed request's x-amz-date may be from the server's clock.
    public var allowedClockSkew: TimeInterval = 15 * 60
    /// A connection that neither sends nor receives for this long is closed: an idle
    /// keep-alive connection, or a client that stalled mid-body.
    public var idleTimeout: TimeAmount = .seconds(120)
    /// The largest XML request document (CompleteMultipartUpload of 10,000 parts is
    /// about 900 KB): anything longer is MaxMessageLengthExceeded.
    public var maximumDocumentSize = 1 << 20

    public init() {}
}

/// The S3-compatible HTTP API on its own port: one task per connection on SwiftNIO's
/// async channels, so request bodies stream in with back-pressure and object bodies
/// stream out in 1 MiB reads; nothing holds a whole object in memory.
public final class S3APIServer: Sendable {
    let store: LocalObjectStore
    let configuration: S3APIConfiguration
    let group: any EventLoopGroup
    let threadPool: NIOThreadPool
    let logger: Logger
    private let state = Mutex<(listener: (any Channel)?, task: Task<Void, Never>?)>((nil, nil))
    private let connections: ConnectionLimiter
    private let limitLog: LimitLog
    private let tracker = ConnectionTracker()

    public init(store: LocalObjectStore, configuration: S3APIConfiguration, group: any EventLoopGroup, threadPool: NIOThreadPool,
                logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.group = group
        self.threadPool = threadPool
        self.logger = logger
        connections = ConnectionLimiter(maximum: configuration.maximumConnections, maximumPerAddress: configuration.maximumConnectionsPerAddress)
        limitLog = LimitLog(logger: logger)
    }

    /// Binds and starts accepting; returns the bound port.
    @discardableResult
    public func start() async throws -> Int {
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.host, port: configuration.port) { [configuration, limitLog] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([IdleStateHandler(allTimeout: configuration.idleTimeout), IdleCloser()])
                    try addHTTPServerHandlers(to: channel.pipeline.syncOperations, limits: configuration.limits, limitLog: limitLog) { status, reason in
                        ("application/xml", S3Error.forRefusedRequest(status, reason).document(resource: "/", requestID: S3RequestHandler.requestID()))
                    }
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        let port = listener.channel.localAddress?.port ?? configuration.port
        let handler = S3RequestHandler(store: store, configuration: configuration, threadPool: threadPool, logger: logger, tracker: tracker)
        let task = Task { await self.accept(listener, handler: handler) }
        state.withLock { $0 = (listener.channel, task) }
        let keys = configuration.credentials.keys.sorted().joined(separator: ", ")
        logger.info("S3 API listening on \(configuration.host):\(port) (path style, and virtual-host style under \(configuration.domains.joined(separator: ", "))); access keys: \(keys)")
        return port
    }

    private func accept(_ listener: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>,
                        handler: S3RequestHandler) async {
        do {
            try await withThrowingDiscardingTaskGroup { group in
                try await listener.executeThenClose { inbound in
                    for try await connection in inbound {
                        let address = connection.channel.remoteAddress?.ipAddress ?? "?"
                        if let refusal = connections.admit(address) {
                            limitLog.closed("S3 API connection from \(address)", reason: refusal.description)
                            try? await connection.channel.close()
                            continue
                        }
                        group.addTask {
                            await handler.serve(connection)
                            self.connections.release(address)
                        }
                    }
                }
            }
        } catch {
            logger.error("S3 API listener stopped: \(error)")
        }
    }

    /// Stops accepting and closes idle keep-alive connections; requests in flight finish,
    /// then their connections close.
    public func shutdown() async {
        let (channel, task) = state.withLock { $0 }
        try? await channel?.close()
        tracker.stop()
        _ = await task?.value
    }
}

/// Open connections, and whether each is between requests, so that shutdown closes the
/// idle ones at once instead of waiting for their clients to hang up.
final class ConnectionTracker: Sendable {
    private struct State {
        var next = 0
        var stopping = false
        var open: [Int: (channel: any Channel, busy: Bool)] = [:]
    }

    private let state = Mutex(State())

    /// Nil once stopping: the connection should close.
    func register(_ channel: any Channel) -> Int? {
        state.withLock { state in
            guard !state.stopping else { return nil }
            state.next += 1
            state.open[state.next] = (channel, false)
            return state.next
        }
    }

    /// Marks a connection busy (a request arrived) or idle (its response is done); false
    /// when the server is stopping and the connection should close now.
    func mark(_ id: Int, busy: Bool) -> Bool {
        state.withLock { state in
            state.open[id]?.busy = busy
            return !state.stopping
        }
    }

    func remove(_ id: Int) {
        _ = state.withLock { $0.open.removeValue(forKey: id) }
    }

    func stop() {
        let idle = state.withLock { state -> [any Channel] in
            state.stopping = true
            return state.open.values.filter { !$0.busy }.map(\.channel)
        }
        for channel in idle { channel.close(promise: nil) }
    }
}

/// Closes a connection that has been silent both ways for the idle timeout.
final class IdleCloser: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

/// One connection's request/response exchange: request heads and body parts in order,
/// `100 Continue` sent the moment a handler first asks for a body it was promised.
final class S3Connection {
    private var inbound: NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>

    private enum BodyState {
        case idle
        case reading(version: HTTPVersion, expectsContinue: Bool, continueSent: Bool)
        case ended
    }

    private var body = BodyState.idle

    init(inbound: NIOAsyncChannelInboundStream<HTTPServerRequestPart>, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) {
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    func nextHead() async throws -> HTTPRequestHead? {
        while let part = try await inbound.next() {
            if case .head(let head) = part {
                let expects = head.headers["expect"].contains { $0.lowercased() == "100-continue" }
                body = .reading(version: head.version, expectsContinue: expects, continueSent: false)
                return head
            }
        }
        return nil
    }

    /// The next piece of the current request's body; nil at its end.
    func nextBodyPart() async throws -> ByteBuffer? {
        guard case .reading(let version, let expects, let sent) = body else { return nil }
        if expects && !sent {
            try await outbound.write(.head(HTTPResponseHead(version: version, status: .continue)))
            body = .reading(version: version, expectsContinue: true, continueSent: true)
        }
        guard let part = try await inbound.next() else { throw S3Error("IncompleteBody", .badRequest, "the connection closed mid-body") }
        switch part {
        case .body(let buffer): return buffer
        case .end:
            body = .ended
            return nil
        case .head:
            throw S3Error("InvalidRequest", .badRequest, "a request began before the previous one ended")
        }
    }

    /// After the response: whether the connection can take another request. A body the
    /// handler left unread is drained if small; one the client still waits to send (it
    /// asked for `100 Continue` and got an error) means closing.
    func finishRequest() async -> Bool {
        guard case .reading(_, let expects, let sent) = body else { return true }
        if expects && !sent { return false }
        var drained = 0
        do {
            while let part = try await nextBodyPart() {
                drained += part.readableBytes
                if drained > 1 << 20 { return false }
            }
        } catch {
            return false
        }
        return true
    }
}
