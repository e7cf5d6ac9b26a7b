import NIOCore
import NIOHTTP1

/// Limits every HTTP listener applies before a request reaches its handler.
public struct HTTPLimits: Sendable {
    /// A longer request target is answered 414 URI Too Long.
    public var maximumURILength = 8 * 1024
    /// Header names and values together beyond this are 431 Request Header Fields Too
    /// Large (NIO's parser stops at 80 KB whatever this says).
    public var maximumHeaderBytes = 16 * 1024
    /// From a request's first byte to the end of its head (slowloris): 408, then close.
    public var headTimeout: TimeAmount = .seconds(10)
    /// Longest silence inside a request body: close.
    public var bodyTimeout: TimeAmount = .seconds(60)
    /// Longest silence between requests on a kept-alive connection: close, quietly.
    public var keepAliveTimeout: TimeAmount = .seconds(60)

    public init() {}
}

/// Adds the request limits and the answers to malformed requests around an HTTP server
/// pipeline: call instead of NIO's `configureHTTPServerPipeline`.
///
/// Every request that breaks a limit or cannot be parsed gets an answer (400, 408, 414 or
/// 431, with `Connection: close`) when no response is under way, then the connection
/// closes: a client is never left without a word. `errorBody` renders the body in the
/// listener's own format (S3's XML error document, or plain text).
public func addHTTPServerHandlers(to pipeline: ChannelPipeline.SynchronousOperations, limits: HTTPLimits, limitLog: LimitLog?,
                                  errorBody: @escaping @Sendable (HTTPResponseStatus, String) -> (contentType: String, body: String)) throws {
    let clock = HTTPRequestClock(limits: limits)
    try pipeline.addHandler(HTTPInputWatcher(clock: clock))
    try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false)
    try pipeline.addHandler(HTTPRequestLimitsHandler(clock: clock, limits: limits, limitLog: limitLog, errorBody: errorBody))
}

/// Where a connection is between requests, shared by the handler that sees raw bytes
/// (before the parser) and the one that sees request parts (after it).
final class HTTPRequestClock {
    enum Phase {
        /// Waiting for the next request (or the first).
        case idle
        /// The first bytes of a request have come; its head has not.
        case head
        /// The head has come; the body is arriving.
        case body
        /// The request is complete, its response under way.
        case responding
        /// A limit was broken: everything more is dropped until the close.
        case closing
    }

    let limits: HTTPLimits
    var phase = Phase.idle
    /// When the current phase runs out; `.distantFuture` when stopped.
    private var deadline = NIODeadline.distantFuture
    /// The one timer, and when it fires. A phase change only moves `deadline`; the timer
    /// is rescheduled only when the new deadline comes before it, and when it fires early
    /// it waits the rest. Scheduling and cancelling a timer for every request cost a kept-
    /// alive connection more than parsing the request did.
    private var timer: Scheduled<Void>?
    private var timerFiresAt = NIODeadline.distantFuture
    /// When the last body part came: parts only note the time (one timer per request,
    /// not one per part), and the body timer, when it fires early, waits the rest.
    var lastBodyPart = NIODeadline.now()
    var onTimeout: ((Phase) -> Void)?

    init(limits: HTTPLimits) { self.limits = limits }

    func start(_ phase: Phase, on loop: any EventLoop, after delay: TimeAmount) {
        self.phase = phase
        deadline = .now() + delay
        if timer == nil || timerFiresAt > deadline { schedule(at: deadline, on: loop) }
    }

    func stop() {
        deadline = .distantFuture
    }

    private func schedule(at time: NIODeadline, on loop: any EventLoop) {
        timer?.cancel()
        timerFiresAt = time
        let bound = NIOLoopBound(self, eventLoop: loop)
        timer = loop.scheduleTask(deadline: time) {
            let clock = bound.value
            clock.timer = nil
            clock.timerFiresAt = .distantFuture
            if clock.deadline == .distantFuture { return }
            if clock.deadline > .now() {
                clock.schedule(at: clock.deadline, on: loop)
            } else {
                clock.deadline = .distantFuture
                clock.onTimeout?(clock.phase)
            }
        }
    }

    /// Ends the timer for good (the connection is closing).
    func cancel() {
        deadline = .distantFuture
        timer?.cancel()
        timer = nil
    }
}

/// Sees a request's first bytes before the parser does, and starts the head deadline.
final class HTTPInputWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let clock: HTTPRequestClock

    init(clock: HTTPRequestClock) { self.clock = clock }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .idle = clock.phase, unwrapInboundIn(data).readableBytes > 0 {
            clock.start(.head, on: context.eventLoop, after: clock.limits.headTimeout)
        }
        context.fireChannelRead(data)
    }
}

final class HTTPRequestLimitsHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let clock: HTTPRequestClock
    private let limits: HTTPLimits
    private let limitLog: LimitLog?
    private let errorBody: @Sendable (HTTPResponseStatus, String) -> (contentType: String, body: String)
    private var responseUnderWay = false

    init(clock: HTTPRequestClock, limits: HTTPLimits, limitLog: LimitLog?,
         errorBody: @escaping @Sendable (HTTPResponseStatus, String) -> (contentType: String, body: String)) {
        self.clock = clock
        self.limits = limits
        self.limitLog = limitLog
        self.errorBody = errorBody
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        clock.onTimeout = { phase in
            let (handler, context) = bound.value
            handler.timedOut(phase, context: context)
        }
        if context.channel.isActive { clock.start(.idle, on: context.eventLoop, after: limits.keepAliveTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        clock.start(.idle, on: context.eventLoop, after: limits.keepAliveTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        clock.cancel()
        clock.onTimeout = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if case .closing = clock.phase { return }
            if head.uri.utf8.count > limits.maximumURILength {
                return refuse(.uriTooLong, "the request target is longer than \(limits.maximumURILength) bytes", context: context)
            }
            let headerBytes = head.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
            if headerBytes > limits.maximumHeaderBytes {
                return refuse(.requestHeaderFieldsTooLarge, "the headers are larger than \(limits.maximumHeaderBytes) bytes", context: context)
            }
            clock.lastBodyPart = .now()
            clock.start(.body, on: context.eventLoop, after: limits.bodyTimeout)
        case .body:
            if case .closing = clock.phase { return }
            clock.lastBodyPart = .now()
        case .end:
            if case .closing = clock.phase { return }
            clock.stop()
            clock.phase = .responding
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200:
            responseUnderWay = true
        case .end:
            responseUnderWay = false
            if case .responding = clock.phase {
                clock.start(.idle, on: context.eventLoop, after: limits.keepAliveTimeout)
            }
        default:
            break
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if case .closing = clock.phase { return }
        if case .headerOverflow = error as? HTTPParserError {
            refuse(.requestHeaderFieldsTooLarge, "the request head is too large", context: context)
        } else {
            refuse(.badRequest, "malformed request (\(error))", context: context)
        }
    }

    private func timedOut(_ phase: HTTPRequestClock.Phase, context: ChannelHandlerContext) {
        switch phase {
        case .idle:
            context.close(promise: nil)  // a kept-alive connection nobody uses: no answer owed
        case .head:
            refuse(.requestTimeout, "the request head did not arrive within \(limits.headTimeout)", context: context)
        case .body:
            let silent = NIODeadline.now() - clock.lastBodyPart
            guard silent >= limits.bodyTimeout else {
                clock.start(.body, on: context.eventLoop, after: limits.bodyTimeout - silent)
                return
            }
            refuse(.requestTimeout, "the request body stalled for \(limits.bodyTimeout)", context: context)
        case .responding, .closing:
            break
        }
    }

    /// Answers `status` if no response is under way, then closes.
    private func refuse(_ status: HTTPResponseStatus, _ reason: String, context: ChannelHandlerContext) {
        clock.stop()
        clock.phase = .closing
        limitLog?.closed("HTTP connection from \(context.channel.remoteAddress?.ipAddress ?? "?")", reason: "\(status.code): \(reason)")
        guard !responseUnderWay, context.channel.isActive else {
            context.close(promise: nil)
            return
        }
        let (contentType, body) = errorBody(status, reason)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Server", value: "Sluice")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
