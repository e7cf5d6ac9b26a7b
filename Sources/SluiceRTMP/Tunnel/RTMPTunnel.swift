import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SluiceHTTP
import SluiceMedia
import Synchronization

/// RTMPT: the RTMP conversation carried by HTTP POSTs on the public port (`/open/1`,
/// `/send/SESSION/SEQ`, `/idle/SESSION/SEQ`, `/close/SESSION/SEQ`), for players behind
/// proxies that pass only HTTP. Each session drives a channel-free `RTMPConnection` on
/// the event loop of the HTTP connection that opened it, as the TCP handler does, and a
/// poll is answered on that loop (`EventLoopExchange`); RTMPTE is RTMPE inside it and
/// needs nothing more here.
public final class RTMPTunnel: Sendable {
    /// Whose routing, media, limits and logs the sessions share.
    let server: RTMPServer
    /// The server's settings as a tunnelled connection takes them (`tunnelled`).
    let configuration: RTMPServerConfiguration
    private let sessions = Mutex<[String: RTMPTSession]>([:])
    private let nextClient = Atomic<UInt64>(1)
    /// When stale sessions were last looked for: every poll would scan them all otherwise.
    private let lastSweep = Atomic<UInt64>(0)
    /// A session without a request for this long is ended.
    static let idleLimit: UInt64 = 60_000
    /// The most sessions at once (each holds an RTMP connection).
    var maximumSessions: Int { configuration.maximumConnections }

    init(server: RTMPServer) {
        self.server = server
        configuration = Self.tunnelled(server.configuration)
    }

    /// The RTMP settings of a tunnelled connection: acknowledgements asked for only every
    /// 2 GB, where TCP clients ack every 2.5 MB. Over the tunnel each client message is a
    /// POST whose answer lands right behind the answer being read, and librtmp reads
    /// answers through a fixed 16 KB buffer: when one ends within the next answer's
    /// header, its next read asks for 0 bytes, gets 0, and it drops the stream as closed
    /// (one in three 10 MB downloads did). A downloading client's acks were nearly all of
    /// those POSTs. librtmp acks after a tenth of the peer bandwidth (read as a signed
    /// 32-bit number), FFmpeg after the window.
    static func tunnelled(_ configuration: RTMPServerConfiguration) -> RTMPServerConfiguration {
        var tunnelled = configuration
        tunnelled.session.windowAcknowledgementSize = UInt32(Int32.max)
        tunnelled.session.peerBandwidth = UInt32(Int32.max)
        return tunnelled
    }

    public enum Command: Equatable, Sendable {
        case ident
        case open
        case send(session: String)
        case idle(session: String)
        case close(session: String)

        /// `/open/1`, `/send/ID/SEQ`…; nil for any other path.
        public init?(path: String) {
            let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
            switch (parts.first, parts.count) {
            case ("fcs", 2) where parts[1] == "ident2" || parts[1] == "ident": self = .ident
            case ("open", 2): self = .open
            case ("send", 3): self = .send(session: parts[1])
            case ("idle", 3): self = .idle(session: parts[1])
            case ("close", 3): self = .close(session: parts[1])
            default: return nil
            }
        }
    }

    /// The largest request body a poll may carry.
    static let maximumBody = 1 << 20

    /// An RTMPT request on the HTTP port, answered on the connection's event loop once its
    /// body is in; nil for any other request. `host` routes as well as the tcUrl does.
    public func exchange(for head: HTTPRequestHead, host: String, context: HTTPRequestContext) -> EventLoopExchange<HTTPReply>? {
        guard head.method == .POST, let command = Command(path: Self.path(head.uri)) else { return nil }
        let peer = context.peer?.ipAddress ?? "?"
        return EventLoopExchange(maximumBody: Self.maximumBody) { body, eventLoop in
            self.exchange(command, body: body, peer: peer, host: host, on: eventLoop).map(Self.reply)
        }
    }

    /// The same request the ordinary way (a body without a Content-Length, or too large).
    public func respond(to command: Command, host: String, connection: HTTPConnection, context: HTTPRequestContext) async -> HTTPReply {
        var body = ByteBuffer()
        do {
            while let part = try await connection.nextBodyPart() {
                guard body.readableBytes + part.readableBytes <= Self.maximumBody else {
                    return .data(.payloadTooLarge, [("Content-Type", "text/plain; charset=utf-8")], "413 RTMPT request body over 1 MB\n")
                }
                var part = part
                body.writeBuffer(&part)
            }
        } catch {
            return .data(.badRequest, [("Content-Type", "text/plain; charset=utf-8")], "400 the request body did not arrive whole\n")
        }
        let answer = (try? await exchange(command, body: body, peer: context.peer?.ipAddress ?? "?", host: host, on: server.group.next()).get()) ?? nil
        return Self.reply(answer).1
    }

    /// A session's answer as `application/x-fcs`; an unknown session is 404.
    static func reply(_ answer: ByteBuffer?) -> (ImmediateReply, HTTPReply) {
        let status: HTTPResponseStatus = answer == nil ? .notFound : .ok
        let body = answer ?? ByteBuffer(string: "404 no such RTMPT session\n")
        let headers = [("Content-Type", answer == nil ? "text/plain; charset=utf-8" : "application/x-fcs"), ("Cache-Control", "no-cache")]
        return (ImmediateReply(status: status, headers: headers, body: body), .bytes(status, headers, body))
    }

    /// The answer to one tunnel request, on `eventLoop`: nil when the session is unknown
    /// (404). A session opened here lives on `eventLoop`.
    public func exchange(_ command: Command, body: ByteBuffer, peer: String, host: String? = nil, on eventLoop: any EventLoop)
        -> EventLoopFuture<ByteBuffer?> {
        let now = RTMPConnectionHandler.now()
        sweep(now: now)
        switch command {
        case .ident:
            return eventLoop.makeSucceededFuture(ByteBuffer(string: "\(peer)\n"))
        case .open:
            return eventLoop.makeSucceededFuture(open(peer: peer, host: host, on: eventLoop, now: now).map { ByteBuffer(string: $0 + "\n") })
        case .send(let id), .idle(let id):
            guard let session = session(id, peer: peer) else { return eventLoop.makeSucceededFuture(nil) }
            // An idle's body is a filler byte (librtmp sends one zero), not RTMP: fed in,
            // it would start a bogus chunk, and under RTMPTE take a byte of keystream.
            let rtmpBytes = command == .idle(session: id) ? ByteBuffer() : body
            return session.exchange(rtmpBytes).map { answer, closed in
                if closed { self.remove(id) }
                return answer
            }.hop(to: eventLoop)
        case .close(let id):
            guard let session = session(id, peer: peer) else { return eventLoop.makeSucceededFuture(nil) }
            remove(id)
            return session.close().map { ByteBuffer(bytes: [0]) }.hop(to: eventLoop)
        }
    }

    /// The same, for callers without an event loop (tests, the fuzzer).
    public func handle(_ command: Command, body: ByteBuffer, peer: String, host: String? = nil) async -> ByteBuffer? {
        (try? await exchange(command, body: body, peer: peer, host: host, on: server.group.next()).get()) ?? nil
    }

    static func path(_ uri: String) -> String {
        uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
    }

    private func open(peer: String, host: String?, on eventLoop: any EventLoop, now: UInt64) -> String? {
        let number = nextClient.add(1, ordering: .relaxed).oldValue
        let id = String(UInt64.random(in: 1...UInt64.max), radix: 16) + String(number, radix: 16)
        var connectionLogger = server.logger
        connectionLogger[metadataKey: "client"] = "t\(number)"
        connectionLogger[metadataKey: "peer"] = "\(peer)"
        let connection = RTMPConnection(configuration: configuration, router: server.router, clientID: String(number, radix: 16),
                                        logger: connectionLogger, limitLog: server.limitLog, peerAddress: peer, now: now, httpHost: host)
        let session = RTMPTSession(connection: connection, peer: peer, eventLoop: eventLoop, resolver: server.resolver, threadPool: server.threadPool,
                                   now: now)
        let added = sessions.withLock { sessions -> Bool in
            guard sessions.count < maximumSessions else { return false }
            sessions[id] = session
            return true
        }
        guard added else {
            server.limitLog.closed("RTMPT session from \(peer)", reason: "\(maximumSessions) connections already open")
            return nil
        }
        RTMPMetrics.connections.increment()
        return id
    }

    /// A session belongs to the address that opened it.
    private func session(_ id: String, peer: String) -> RTMPTSession? {
        sessions.withLock { $0[id] }.flatMap { $0.peer == peer ? $0 : nil }
    }

    private func remove(_ id: String) {
        if sessions.withLock({ $0.removeValue(forKey: id) }) != nil { RTMPMetrics.connections.decrement() }
    }

    /// Ends sessions nobody has polled for `idleLimit`; looks at most once a second.
    private func sweep(now: UInt64) {
        let last = lastSweep.load(ordering: .relaxed)
        guard now &- last >= 1000, lastSweep.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged else { return }
        let stale = sessions.withLock { sessions in sessions.filter { now &- $0.value.lastUsed.load(ordering: .relaxed) > Self.idleLimit } }
        for (id, session) in stale {
            remove(id)
            _ = session.close()
        }
    }

    public var sessionCount: Int { sessions.withLock { $0.count } }
}

extension RTMPServer {
    /// RTMPT on the public port, with this server's settings, routing and media.
    public func makeTunnel() -> RTMPTunnel {
        RTMPTunnel(server: self)
    }
}
