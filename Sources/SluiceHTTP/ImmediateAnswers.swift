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

extension HTTPResponder {
    public func respondImmediately(to head: HTTPRequestHead, context: HTTPRequestContext) -> (ImmediateReply, Answer)? { nil }
}

/// Sits between the HTTP decoder and the async channel. A request the responder answers
/// at once is answered here; the rest pass on. Answers stay in request order: while the
/// async side has a request in hand (until its response's end goes out through here),
/// every request passes on.
final class ImmediateAnswerHandler<Responder: HTTPResponder>: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let responder: Responder
    private let configuration: HTTPServerConfiguration
    /// False once the server stops: answers then go through the connection loop, which closes.
    private let running: @Sendable () -> Bool
    private var asyncBusy = false
    /// The rest of a request answered here (its end), swallowed.
    private var swallowing = false

    init(responder: Responder, configuration: HTTPServerConfiguration, running: @escaping @Sendable () -> Bool) {
        self.responder = responder
        self.configuration = configuration
        self.running = running
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let head):
            if !asyncBusy, !swallowing, running(), Self.hasNoBody(head), answer(head, context: context) {
                swallowing = true
                return
            }
            asyncBusy = true
            context.fireChannelRead(data)
        case .body:
            if !swallowing { context.fireChannelRead(data) }
        case .end:
            if swallowing {
                swallowing = false
            } else {
                context.fireChannelRead(data)
            }
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

    /// Writes the responder's immediate answer, if it has one.
    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) -> Bool {
        let started = ContinuousClock.now
        let requestContext = HTTPRequestContext(requestID: HTTPServer.requestID(), peer: context.channel.remoteAddress)
        guard let (reply, answer) = responder.respondImmediately(to: head, context: requestContext) else { return false }
        var headers = HTTPHeaders()
        if let name = configuration.requestIDHeader { headers.add(name: name, value: requestContext.requestID) }
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
        responder.written(answer, for: head, context: requestContext, elapsed: started.duration(to: .now))
        return true
    }
}
