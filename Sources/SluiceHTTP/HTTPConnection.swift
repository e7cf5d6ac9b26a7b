import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// What a request's body reading can fail with; each surface answers it in its own
/// error format.
public struct HTTPRequestError: Error, Sendable {
    public let code: String
    public let status: HTTPResponseStatus
    public let message: String

    public init(code: String, status: HTTPResponseStatus, message: String) {
        self.code = code
        self.status = status
        self.message = message
    }
}

/// What a responder answers: a small body built in memory, or a file's bytes read as
/// they are sent.
public enum HTTPReply: Sendable {
    case data(HTTPResponseStatus, [(String, String)], String)
    /// Bytes that are not text (RTMPT's answers).
    case bytes(HTTPResponseStatus, [(String, String)], ByteBuffer)
    case empty(HTTPResponseStatus, [(String, String)])
    /// `range` is half-open so that an empty file (or an empty range) is expressible.
    case file(HTTPResponseStatus, [(String, String)], path: String, range: Range<Int64>)
    /// A few bytes, then a file's range: FLV pseudo-streaming's header before the file
    /// from a keyframe on.
    case prefixedFile(HTTPResponseStatus, [(String, String)], prefix: [UInt8], path: String, range: Range<Int64>)

    /// Body bytes the reply sends (none for HEAD).
    public func bodyLength(for method: HTTPMethod) -> Int64 {
        guard method != .HEAD else { return 0 }
        switch self {
        case .data(_, _, let body): return Int64(body.utf8.count)
        case .bytes(_, _, let body): return Int64(body.readableBytes)
        case .empty: return 0
        case .file(_, _, _, let range): return Int64(range.count)
        case .prefixedFile(_, _, let prefix, _, let range): return Int64(prefix.count) + Int64(range.count)
        }
    }

    public var status: HTTPResponseStatus {
        switch self {
        case .data(let status, _, _), .bytes(let status, _, _), .empty(let status, _), .file(let status, _, _, _), .prefixedFile(let status, _, _, _, _): return status
        }
    }

    /// The same reply, telling the client the connection closes after it.
    public func closing() -> HTTPReply {
        switch self {
        case .data(let s, let h, let b): return .data(s, h + [("Connection", "close")], b)
        case .bytes(let s, let h, let b): return .bytes(s, h + [("Connection", "close")], b)
        case .empty(let s, let h): return .empty(s, h + [("Connection", "close")])
        case .file(let s, let h, let p, let r): return .file(s, h + [("Connection", "close")], path: p, range: r)
        case .prefixedFile(let s, let h, let x, let p, let r): return .prefixedFile(s, h + [("Connection", "close")], prefix: x, path: p, range: r)
        }
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

    var isStopping: Bool { state.withLock { $0.stopping } }

    func stop() {
        let idle = state.withLock { state -> [any Channel] in
            state.stopping = true
            return state.open.values.filter { !$0.busy }.map(\.channel)
        }
        for channel in idle { channel.close(promise: nil) }
    }
}

/// Closes a connection that has been silent both ways for the idle timeout.
final class IdleCloser: ChannelInboundHandler, RemovableChannelHandler, Sendable {
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
///
/// Responses are written on the channel itself rather than through the async channel's
/// writer: a write's future says when its bytes have left, which is when a file sent
/// with sendfile may be closed, and a response's parts go out in one event-loop turn and
/// one flush.
public final class HTTPConnection {
    private var inbound: NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator
    let channel: any Channel

    private enum BodyState {
        case idle
        case reading(version: HTTPVersion, expectsContinue: Bool, continueSent: Bool)
        case ended
    }

    private var body = BodyState.idle

    init(inbound: NIOAsyncChannelInboundStream<HTTPServerRequestPart>, channel: any Channel) {
        self.inbound = inbound.makeAsyncIterator()
        self.channel = channel
    }

    /// Writes `parts` in one event-loop turn with one flush. With `awaitWritten`, returns
    /// when the last has been written to the socket (or the connection failed); without,
    /// at once while the connection is writable (a client that does not read makes it
    /// unwritable, and then this waits: replies never pile up in memory).
    func send(_ parts: [HTTPServerResponsePart], awaitWritten: Bool = true) async throws {
        let channel = self.channel
        if !awaitWritten && channel.isWritable {
            channel.eventLoop.execute {
                for part in parts { channel.write(part, promise: nil) }
                channel.flush()
            }
            return
        }
        try await channel.eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
            let promise = channel.eventLoop.makePromise(of: Void.self)
            for (index, part) in parts.enumerated() {
                channel.write(part, promise: index == parts.count - 1 ? promise : nil)
            }
            channel.flush()
            return promise.futureResult
        }.get()
    }

    public func nextHead() async throws -> HTTPRequestHead? {
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
    public func nextBodyPart() async throws -> ByteBuffer? {
        guard case .reading(let version, let expects, let sent) = body else { return nil }
        if expects && !sent {
            try await send([.head(HTTPResponseHead(version: version, status: .continue))])
            body = .reading(version: version, expectsContinue: true, continueSent: true)
        }
        guard let part = try await inbound.next() else { throw HTTPRequestError(code: "IncompleteBody", status: .badRequest, message: "the connection closed mid-body") }
        switch part {
        case .body(let buffer): return buffer
        case .end:
            body = .ended
            return nil
        case .head:
            throw HTTPRequestError(code: "InvalidRequest", status: .badRequest, message: "a request began before the previous one ended")
        }
    }

    /// True when the request asked for `100 Continue` before sending its body and has not
    /// been given it: answering now leaves the body unsent.
    public var bodyStillAwaitsContinue: Bool {
        if case .reading(_, true, false) = body { true } else { false }
    }

    /// After the response: whether the connection can take another request. A body the
    /// handler left unread is drained if small; one the client still waits to send (it
    /// asked for `100 Continue` and got an error) means closing.
    public func finishRequest() async -> Bool {
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
