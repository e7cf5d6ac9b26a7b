import NIOCore
import NIOHTTP1

/// Another protocol sharing an HTTP port, told apart by a connection's first byte: the
/// public port takes RTMP and RTMPE too (0x03, 0x06, 0x08, 0x09; no HTTP method starts
/// with those), so that players behind firewalls that pass only port 80 still play.
public struct ProtocolHandoff: Sendable {
    /// For log lines ("RTMP").
    public var name: String
    /// Whether a connection whose first byte is this one belongs to the other protocol.
    public var claims: @Sendable (UInt8) -> Bool
    /// Takes the connection over, on its event loop: adds the protocol's handlers to the
    /// end of the pipeline (or closes it, when that protocol's limits refuse it). The
    /// first bytes then go to those handlers.
    public var adopt: @Sendable (any Channel) throws -> Void

    public init(name: String, claims: @escaping @Sendable (UInt8) -> Bool, adopt: @escaping @Sendable (any Channel) throws -> Void) {
        self.name = name
        self.claims = claims
        self.adopt = adopt
    }
}

/// What the server's accept loop gets for a connection: the channel (for the connection
/// caps), and what it turned out to be. A child channel starts reading only once its
/// initializer has finished, so the initializer cannot wait for the first bytes; it hands
/// over this future instead, as NIO's own protocol negotiation does.
struct PendingConnection: Sendable {
    let channel: any Channel
    let accepted: EventLoopFuture<AcceptedConnection>
}

enum AcceptedConnection: Sendable {
    case http(NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>)
    /// Another protocol took it; the HTTP server has nothing more to do with it.
    case handedOff
}

/// Holds a new connection until its first bytes arrive, then sets its pipeline up for
/// HTTP or hands it to the other protocol, and passes those bytes on. A connection that
/// closes first (or stays silent until the idle timeout closes it) fails the promise, so
/// nothing waits for it.
final class FirstByteSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let handoff: ProtocolHandoff
    private let setUpHTTP: (any Channel) throws -> NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    /// Handlers that only HTTP keeps (the idle closer): the other protocol has its own timeouts.
    private let httpOnly: [any RemovableChannelHandler]
    private var promise: EventLoopPromise<AcceptedConnection>?

    init(handoff: ProtocolHandoff, promise: EventLoopPromise<AcceptedConnection>, httpOnly: [any RemovableChannelHandler],
         setUpHTTP: @escaping (any Channel) throws -> NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) {
        self.handoff = handoff
        self.promise = promise
        self.httpOnly = httpOnly
        self.setUpHTTP = setUpHTTP
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        guard let promise, let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) else {
            context.fireChannelRead(data)
            return
        }
        self.promise = nil
        do {
            if handoff.claims(first) {
                for handler in httpOnly { context.pipeline.syncOperations.removeHandler(handler, promise: nil) }
                try handoff.adopt(context.channel)
                promise.succeed(.handedOff)
            } else {
                promise.succeed(.http(try setUpHTTP(context.channel)))
            }
        } catch {
            promise.fail(error)
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise?.fail(ChannelError.inputClosed)
        promise = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        promise?.fail(ChannelError.ioOnClosedChannel)
        promise = nil
    }
}
