import Foundation
import NIOCore
import NIOHTTP1

/// RTMPT from the client's side, at the bottom of the test client's pipeline (above
/// NIOHTTP1's client codec): RTMP bytes written become `POST /send` bodies, an idle
/// poll goes out whenever no request is waiting (its body one zero byte, as librtmp
/// sends), and each answer's bytes after the polling byte go up as RTMP.
final class RTMPTClientTunnel: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = HTTPClientRequestPart

    private let host: String
    private var session: String?
    private var sequence = 0
    private var waiting = 0
    /// RTMP written before `/open` answered.
    private var early: [ByteBuffer] = []
    private var status: HTTPResponseStatus = .ok
    private var answer = ByteBuffer()
    /// The last polling byte: the next idle waits this many 10 ms steps.
    private var delay: UInt8 = 1
    private var poll: Scheduled<Void>?

    init(host: String) {
        self.host = host
    }

    func channelActive(context: ChannelHandlerContext) {
        post("/open/1", ByteBuffer(bytes: [0]), context: context)
        context.fireChannelActive()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        if let session {
            post("/send/\(session)/\(nextSequence())", bytes, context: context)
        } else {
            early.append(bytes)
        }
        promise?.succeed(())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
            answer = context.channel.allocator.buffer(capacity: 0)
        case .body(var part):
            answer.writeBuffer(&part)
        case .end:
            waiting -= 1
            guard status == .ok else {
                context.close(promise: nil)
                return
            }
            if session == nil {
                session = String(buffer: answer).trimmingCharacters(in: .whitespacesAndNewlines)
                for bytes in early { post("/send/\(session!)/\(nextSequence())", bytes, context: context) }
                early = []
            } else if let polling = answer.readInteger(as: UInt8.self) {
                delay = max(1, polling)
                if answer.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(answer)) }
            }
            schedulePoll(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        poll?.cancel()
        context.fireChannelInactive()
    }

    private func nextSequence() -> Int {
        sequence += 1
        return sequence
    }

    private func post(_ path: String, _ body: ByteBuffer, context: ChannelHandlerContext) {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "Content-Type", value: "application/x-fcs")
        head.headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        waiting += 1
    }

    /// An idle when nothing is waiting, after the delay the server asked for.
    private func schedulePoll(context: ChannelHandlerContext) {
        guard waiting == 0, let session, poll == nil else { return }
        poll = context.eventLoop.scheduleTask(in: .milliseconds(10 * Int64(delay))) { [self] in
            poll = nil
            guard waiting == 0, context.channel.isActive else { return }
            post("/idle/\(session)/\(nextSequence())", ByteBuffer(bytes: [0]), context: context)
        }
    }
}
