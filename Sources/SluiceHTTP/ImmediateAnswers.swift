import Foundation
import NIOCore
import NIOHTTP1

/// An answer a responder can give at once, on the connection's event loop, without the
/// hop to the connection's task and back: a small object whose metadata it already holds.
/// Anything else (a lookup, a large body, a range) takes the ordinary path.
public struct ImmediateReply: Sendable {
    public var status: HTTPResponseStatus
    public var headers: [(String, String)]
    /// Empty for HEAD and 304.
    public var body: ByteBuffer

    public init(status: HTTPResponseStatus, headers: [(String, String)], body: ByteBuffer) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// A request with a small body answered on the connection's event loop once the body is
/// in, through a future on that loop: RTMPT's polls, whose answers are bytes an RTMP
/// connection core holds (a media file may have to open first). Each costs no hop to a
/// task and back, which is most of a poll's time. A body over `maximumBody` bytes, or
/// without a Content-Length, takes the ordinary path.
public struct EventLoopExchange<Answer: HTTPAnswer>: Sendable {
    public var maximumBody: Int
    public var answer: @Sendable (_ body: ByteBuffer, _ eventLoop: any EventLoop) -> EventLoopFuture<(ImmediateReply, Answer)>

    public init(maximumBody: Int,
                answer: @escaping @Sendable (_ body: ByteBuffer, _ eventLoop: any EventLoop) -> EventLoopFuture<(ImmediateReply, Answer)>) {
        self.maximumBody = maximumBody
        self.answer = answer
    }
}

extension HTTPResponder {
    public func respondImmediately(to head: HTTPRequestHead, context: HTTPRequestContext) -> (ImmediateReply, Answer)? { nil }
    public func exchangeOnEventLoop(for head: HTTPRequestHead, context: HTTPRequestContext) -> EventLoopExchange<Answer>? { nil }
}

/// Sits between the HTTP decoder and the async channel. A request the responder answers
/// at once, or exchanges on the event loop, is answered here; the rest pass on. Answers
/// stay in request order: while the async side has a request in hand (until its
/// response's end goes out through here) every request passes on, and while an exchange
/// awaits its answer, later requests wait here and the socket is not read.
final class ImmediateAnswerHandler<Responder: HTTPResponder>: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Exchange {
        case none
        case collecting(HTTPRequestHead, EventLoopExchange<Responder.Answer>, body: ByteBuffer, HTTPRequestContext, started: ContinuousClock.Instant)
        case answering
    }

    private let responder: Responder
    private let configuration: HTTPServerConfiguration
    /// False once the server stops: answers then go through the connection loop, which closes.
    private let running: @Sendable () -> Bool
    private var asyncBusy = false
    /// The rest of a request answered here (its end), swallowed.
    private var swallowing = false
    private var exchange = Exchange.none
    /// Request parts that arrived while an exchange awaited its answer.
    private var held: [HTTPServerRequestPart] = []
    /// A read asked for while an exchange awaited its answer, done when it is written.
    private var readHeld = false

    init(responder: Responder, configuration: HTTPServerConfiguration, running: @escaping @Sendable () -> Bool) {
        self.responder = responder
        self.configuration = configuration
        self.running = running
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .answering = exchange {
            held.append(part)
            return
        }
        handle(part, context: context)
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            if !asyncBusy, !swallowing, running() {
                if Self.hasNoBody(head), answer(head, context: context) {
                    swallowing = true
                    return
                }
                if claimExchange(head, context: context) { return }
            }
            asyncBusy = true
            context.fireChannelRead(wrapInboundOut(part))
        case .body(var bytes):
            if case .collecting(let head, let claimed, var body, let requestContext, let started) = exchange {
                exchange = .none  // the buffer is not shared while it grows
                body.writeBuffer(&bytes)
                exchange = .collecting(head, claimed, body: body, requestContext, started: started)
            } else if !swallowing {
                context.fireChannelRead(wrapInboundOut(part))
            }
        case .end:
            if case .collecting(let head, let claimed, let body, let requestContext, let started) = exchange {
                exchange = .answering
                claimed.answer(body, context.eventLoop).hop(to: context.eventLoop).whenComplete { result in
                    self.exchanged(result, head: head, requestContext: requestContext, started: started, context: context)
                }
            } else if swallowing {
                swallowing = false
            } else {
                context.fireChannelRead(wrapInboundOut(part))
            }
        }
    }

    func read(context: ChannelHandlerContext) {
        if case .answering = exchange {
            readHeld = true
        } else {
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { asyncBusy = false }
        context.write(data, promise: promise)
    }

    private static func hasNoBody(_ head: HTTPRequestHead) -> Bool {
        (head.method == .GET || head.method == .HEAD) && !head.headers.contains(name: "transfer-encoding")
            && (head.headers.first(name: "content-length").map { $0 == "0" } ?? true)
    }

    /// Starts collecting a request's body for the responder's exchange, if it claims it.
    private func claimExchange(_ head: HTTPRequestHead, context: ChannelHandlerContext) -> Bool {
        guard !head.headers.contains(name: "transfer-encoding"),
              let length = head.headers.first(name: "content-length").flatMap({ Int($0) }), length >= 0 else { return false }
        let requestContext = HTTPRequestContext(requestID: HTTPServer.requestID(), peer: context.channel.remoteAddress)
        guard let claimed = responder.exchangeOnEventLoop(for: head, context: requestContext), length <= claimed.maximumBody else { return false }
        exchange = .collecting(head, claimed, body: context.channel.allocator.buffer(capacity: length), requestContext, started: .now)
        return true
    }

    /// Writes an exchange's answer (a 500 if it failed), then goes on with what waited.
    private func exchanged(_ result: Result<(ImmediateReply, Responder.Answer), any Error>, head: HTTPRequestHead,
                           requestContext: HTTPRequestContext, started: ContinuousClock.Instant, context: ChannelHandlerContext) {
        exchange = .none
        switch result {
        case .success(let (reply, answer)):
            write(reply, for: head, context: context, requestID: requestContext.requestID)
            responder.written(answer, for: head, context: requestContext, elapsed: started.duration(to: .now))
        case .failure:
            let reply = ImmediateReply(status: .internalServerError, headers: [("Content-Type", "text/plain; charset=utf-8")],
                                       body: ByteBuffer(string: "500 the request could not be answered\n"))
            write(reply, for: head, context: context, requestID: requestContext.requestID)
        }
        while !held.isEmpty {
            if case .answering = exchange { return }
            handle(held.removeFirst(), context: context)
        }
        if readHeld, case .none = exchange {
            readHeld = false
            context.read()
        }
    }

    /// Writes the responder's immediate answer, if it has one.
    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) -> Bool {
        let started = ContinuousClock.now
        let requestContext = HTTPRequestContext(requestID: HTTPServer.requestID(), peer: context.channel.remoteAddress)
        guard let (reply, answer) = responder.respondImmediately(to: head, context: requestContext) else { return false }
        write(reply, for: head, context: context, requestID: requestContext.requestID)
        responder.written(answer, for: head, context: requestContext, elapsed: started.duration(to: .now))
        return true
    }

    private func write(_ reply: ImmediateReply, for head: HTTPRequestHead, context: ChannelHandlerContext, requestID: String) {
        var headers = HTTPHeaders()
        if let name = configuration.requestIDHeader { headers.add(name: name, value: requestID) }
        headers.add(name: "Date", value: HTTPDate.now())
        headers.add(name: "Server", value: "Sluice")
        for (name, value) in reply.headers { headers.add(name: name, value: value) }
        if !headers.contains(name: "Content-Length") && reply.status != .notModified {
            headers.add(name: "Content-Length", value: String(reply.body.readableBytes))
        }
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: reply.status, headers: headers))), promise: nil)
        if head.method != .HEAD, reply.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(reply.body))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
