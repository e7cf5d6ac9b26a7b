import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// What an HTTP surface answers (the S3 API, the public listener, the control API):
/// one request at a time per connection; its body, if any, is read from the
/// connection. The server core does the rest: accepting within limits, the connection
/// loop, writing the reply, keep-alive, graceful shutdown.
public protocol HTTPResponder: Sendable {
    associatedtype Answer: HTTPAnswer
    func respond(to head: HTTPRequestHead, connection: HTTPConnection, context: HTTPRequestContext) async -> Answer
    /// After the answer was written: the access-log line.
    func written(_ answer: Answer, for head: HTTPRequestHead, context: HTTPRequestContext, elapsed: Duration)
    /// An answer given at once on the event loop, if the responder can give one (see
    /// `ImmediateReply`); nil sends the request the ordinary way. Asked only when the
    /// server's configuration has `immediateAnswers`.
    func respondImmediately(to head: HTTPRequestHead, context: HTTPRequestContext) -> (ImmediateReply, Answer)?
    /// A request whose body, once in, is answered on the event loop (see
    /// `EventLoopExchange`); nil sends it the ordinary way. Asked only when the server's
    /// configuration has `immediateAnswers`.
    func exchangeOnEventLoop(for head: HTTPRequestHead, context: HTTPRequestContext) -> EventLoopExchange<Answer>?
}

/// A reply and whatever the responder wants to remember of it for its log.
public protocol HTTPAnswer: Sendable {
    var reply: HTTPReply { get set }
}

extension HTTPReply: HTTPAnswer {
    public var reply: HTTPReply {
        get { self }
        set { self = newValue }
    }
}

public struct HTTPRequestContext: Sendable {
    /// 16 hex digits, sent back in the responder's request-id header.
    public let requestID: String
    public let peer: SocketAddress?
}

public struct HTTPServerConfiguration: Sendable {
    public var host = "0.0.0.0"
    /// 0 picks a free port.
    public var port = 0
    public var limits = HTTPLimits()
    public var maximumConnections = 2000
    public var maximumConnectionsPerAddress = 128
    /// A connection that neither sends nor receives for this long is closed.
    public var idleTimeout: TimeAmount = .seconds(120)
    /// How the listener is named in log lines ("S3 API", "HTTP").
    public var name = "HTTP"
    /// The header that carries each request's id (`x-amz-request-id`), if any.
    public var requestIDHeader: String?
    /// For replies built in memory that name no type.
    public var defaultContentType = "text/plain; charset=utf-8"
    /// Another protocol on the same port, told apart by the first byte (RTMP on the public port).
    public var handoff: ProtocolHandoff?
    /// Whether the responder answers some requests at once, on the event loop.
    public var immediateAnswers = false

    public init() {}

    /// A listener's address, request limits and connection caps, the rest defaulted.
    public init(name: String, host: String, port: Int, limits: HTTPLimits, maximumConnections: Int = 2000,
                maximumConnectionsPerAddress: Int = 128) {
        self.name = name
        self.host = host
        self.port = port
        self.limits = limits
        self.maximumConnections = maximumConnections
        self.maximumConnectionsPerAddress = maximumConnectionsPerAddress
    }
}

/// The HTTP server every surface runs on: SwiftNIO async channels, one task per
/// connection, so request bodies stream in with back-pressure; file bodies go out with
/// sendfile; nothing holds a whole object in memory.
public final class HTTPServer: Sendable {
    public let configuration: HTTPServerConfiguration
    let group: any EventLoopGroup
    let threadPool: NIOThreadPool
    let logger: Logger
    /// The body of the answer to a request refused before it reached the responder
    /// (a limit, a malformed head), in the surface's own format.
    let refusal: @Sendable (HTTPResponseStatus, String) -> (contentType: String, body: String)
    private let state = Mutex<(listener: (any Channel)?, task: Task<Void, Never>?)>((nil, nil))
    private let connections: ConnectionLimiter
    private let limitLog: LimitLog
    private let tracker = ConnectionTracker()

    public init(configuration: HTTPServerConfiguration, group: any EventLoopGroup, threadPool: NIOThreadPool, logger: Logger,
                refusal: @escaping @Sendable (HTTPResponseStatus, String) -> (contentType: String, body: String)) {
        self.configuration = configuration
        self.group = group
        self.threadPool = threadPool
        self.logger = logger
        self.refusal = refusal
        connections = ConnectionLimiter(maximum: configuration.maximumConnections, maximumPerAddress: configuration.maximumConnectionsPerAddress)
        limitLog = LimitLog(logger: logger)
    }

    /// Binds and starts accepting; returns the bound port.
    @discardableResult
    public func start<Responder: HTTPResponder>(_ responder: Responder) async throws -> Int {
        let (configuration, limitLog, refusal, tracker) = (self.configuration, self.limitLog, self.refusal, self.tracker)
        @Sendable func setUpHTTP(_ channel: any Channel) throws -> NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart> {
            try addHTTPServerHandlers(to: channel.pipeline.syncOperations, limits: configuration.limits, limitLog: limitLog, errorBody: refusal)
            if configuration.immediateAnswers {
                try channel.pipeline.syncOperations.addHandler(
                    ImmediateAnswerHandler(responder: responder, configuration: configuration, running: { !tracker.isStopping }))
            }
            return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
        }
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.host, port: configuration.port) { channel -> EventLoopFuture<PendingConnection> in
                channel.eventLoop.makeCompletedFuture {
                    let idle: [any RemovableChannelHandler & ChannelHandler] = [IdleStateHandler(allTimeout: configuration.idleTimeout), IdleCloser()]
                    try channel.pipeline.syncOperations.addHandlers(idle)
                    guard let handoff = configuration.handoff else {
                        return PendingConnection(channel: channel, accepted: channel.eventLoop.makeSucceededFuture(.http(try setUpHTTP(channel))))
                    }
                    // The first bytes will say which protocol it is.
                    let promise = channel.eventLoop.makePromise(of: AcceptedConnection.self)
                    try channel.pipeline.syncOperations.addHandler(
                        FirstByteSniffer(handoff: handoff, promise: promise, httpOnly: idle, setUpHTTP: setUpHTTP))
                    return PendingConnection(channel: channel, accepted: promise.futureResult)
                }
            }
        let port = listener.channel.localAddress?.port ?? configuration.port
        let task = Task { await self.accept(listener, responder: responder) }
        state.withLock { $0 = (listener.channel, task) }
        return port
    }

    private func accept<Responder: HTTPResponder>(_ listener: NIOAsyncChannel<PendingConnection, Never>, responder: Responder) async {
        do {
            try await withThrowingDiscardingTaskGroup { group in
                try await listener.executeThenClose { inbound in
                    for try await pending in inbound {
                        let address = pending.channel.remoteAddress?.ipAddress ?? "?"
                        if let refusal = connections.admit(address) {
                            limitLog.closed("\(configuration.name) connection from \(address)", reason: refusal.description)
                            try? await pending.channel.close()
                            continue
                        }
                        group.addTask {
                            // A connection handed to another protocol (or closed before its
                            // first byte) leaves the HTTP server here.
                            if case .http(let connection)? = try? await pending.accepted.get() {
                                await self.serve(connection, responder: responder)
                            }
                            self.connections.release(address)
                        }
                    }
                }
            }
        } catch {
            logger.error("\(configuration.name) listener stopped: \(error)")
        }
    }

    /// One connection: requests in turn until the client or a stop ends it.
    private func serve<Responder: HTTPResponder>(_ channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
                                                 responder: Responder) async {
        guard let id = tracker.register(channel.channel) else {
            try? await channel.channel.close()
            return
        }
        defer { tracker.remove(id) }
        let peer = channel.channel.remoteAddress
        do {
            try await channel.executeThenClose { inbound, _ in
                let connection = HTTPConnection(inbound: inbound, channel: channel.channel)
                while let head = try await connection.nextHead() {
                    let running = tracker.mark(id, busy: true)
                    let started = ContinuousClock.now
                    let context = HTTPRequestContext(requestID: Self.requestID(), peer: peer)
                    var answer = await responder.respond(to: head, connection: connection, context: context)
                    // A server that is stopping answers this request, then closes; so does
                    // one that answered a 100-continue request without asking for its body
                    // (the client then never sends it), and says so: a client that reused
                    // the connection would send its next request where the body was due.
                    let keepAlive = head.isKeepAlive && running && !connection.bodyStillAwaitsContinue
                    if !keepAlive { answer.reply = answer.reply.closing() }
                    do {
                        try await HTTPReplyWriter(threadPool: threadPool, configuration: configuration, refusal: refusal)
                            .write(answer.reply, for: head, requestID: context.requestID, connection: connection)
                    } catch {
                        // A client that hung up mid-answer (curl once it has its range)
                        // still made a request: it is logged, then the connection ends.
                        responder.written(answer, for: head, context: context, elapsed: started.duration(to: .now))
                        throw error
                    }
                    responder.written(answer, for: head, context: context, elapsed: started.duration(to: .now))
                    let reusable = await connection.finishRequest()
                    if !keepAlive || !reusable || !tracker.mark(id, busy: false) { break }
                }
            }
        } catch {
            logger.debug("\(configuration.name) connection ended: \(error)")
        }
    }

    /// 16 upper-case hex digits, unique per process: a random start, then counted (a
    /// random draw per request asked the kernel for entropy every time).
    public static func requestID() -> String {
        let value = requestCounter.add(1, ordering: .relaxed).newValue
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 16 - text.count)) + text
    }

    private static let requestCounter = Atomic<UInt64>(UInt64.random(in: 0...(UInt64.max >> 1)))

    /// Stops accepting and closes idle keep-alive connections; requests in flight finish,
    /// then their connections close.
    public func shutdown() async {
        let (channel, task) = state.withLock { $0 }
        try? await channel?.close()
        tracker.stop()
        _ = await task?.value
    }
}
