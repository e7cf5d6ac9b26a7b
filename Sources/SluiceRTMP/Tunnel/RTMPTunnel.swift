import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SluiceHTTP
import SluiceMedia
import Synchronization

/// RTMPT: the RTMP conversation carried by HTTP POSTs on the public port (`/open/1`,
/// `/send/SESSION/SEQ`, `/idle/SESSION/SEQ`, `/close/SESSION/SEQ`), for players behind
/// proxies that pass only HTTP. Each session drives a channel-free `RTMPConnection`, as
/// the TCP handler does; RTMPTE is RTMPE inside it and needs nothing more here.
public final class RTMPTunnel: Sendable {
    let configuration: RTMPServerConfiguration
    let router: any ConnectRouter
    let resolver: MediaResolver
    let threadPool: NIOThreadPool
    let logger: Logger
    let limitLog: LimitLog
    private let sessions = Mutex<[String: RTMPTSession]>([:])
    private let nextClient = Atomic<UInt64>(1)
    /// When stale sessions were last looked for: every poll would scan them all otherwise.
    private let lastSweep = Atomic<UInt64>(0)
    /// A session without a request for this long is ended.
    static let idleLimit: UInt64 = 60_000
    /// The most sessions at once (each holds an RTMP connection).
    var maximumSessions: Int { configuration.maximumConnections }

    init(configuration: RTMPServerConfiguration, router: any ConnectRouter, resolver: MediaResolver, threadPool: NIOThreadPool,
         logger: Logger, limitLog: LimitLog) {
        self.configuration = Self.tunnelled(configuration)
        self.router = router
        self.resolver = resolver
        self.threadPool = threadPool
        self.logger = logger
        self.limitLog = limitLog
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

    /// An RTMPT request on the HTTP port: its body (RTMP bytes, at most 1 MB) to the
    /// session, the session's polling byte and bytes back, as `application/x-fcs`.
    /// `host` is the request's Host (no port): a session routes by it as well as by tcUrl.
    public func respond(to command: Command, host: String, connection: HTTPConnection, context: HTTPRequestContext) async -> HTTPReply {
        var body = ByteBuffer()
        do {
            while let part = try await connection.nextBodyPart() {
                guard body.readableBytes + part.readableBytes <= 1 << 20 else {
                    return .data(.payloadTooLarge, [("Content-Type", "text/plain; charset=utf-8")], "413 RTMPT request body over 1 MB\n")
                }
                var part = part
                body.writeBuffer(&part)
            }
        } catch {
            return .data(.badRequest, [("Content-Type", "text/plain; charset=utf-8")], "400 the request body did not arrive whole\n")
        }
        guard let answer = await handle(command, body: body, peer: context.peer?.ipAddress ?? "?", host: host) else {
            return .data(.notFound, [("Content-Type", "text/plain; charset=utf-8")], "404 no such RTMPT session\n")
        }
        return .bytes(.ok, [("Content-Type", "application/x-fcs"), ("Cache-Control", "no-cache")], answer)
    }

    /// The answer to one tunnel request: nil when the session is unknown (404).
    public func handle(_ command: Command, body: ByteBuffer, peer: String, host: String? = nil) async -> ByteBuffer? {
        let now = RTMPConnectionHandler.now()
        sweep(now: now)
        switch command {
        case .ident:
            return ByteBuffer(string: "\(peer)\n")
        case .open:
            return open(peer: peer, host: host, now: now).map { ByteBuffer(string: $0 + "\n") }
        case .send(let id), .idle(let id):
            guard let session = session(id, peer: peer) else { return nil }
            // An idle's body is a filler byte (librtmp sends one zero), not RTMP: fed in,
            // it would start a bogus chunk, and under RTMPTE take a byte of keystream.
            let rtmpBytes = command == .idle(session: id) ? ByteBuffer() : body
            let answer = await session.exchange(rtmpBytes, now: now)
            if await session.isClosed { remove(id) }
            return answer
        case .close(let id):
            guard let session = session(id, peer: peer) else { return nil }
            await session.close()
            remove(id)
            return ByteBuffer(bytes: [0])
        }
    }

    private func open(peer: String, host: String?, now: UInt64) -> String? {
        let number = nextClient.add(1, ordering: .relaxed).oldValue
        let id = String(UInt64.random(in: 1...UInt64.max), radix: 16) + String(number, radix: 16)
        var connectionLogger = logger
        connectionLogger[metadataKey: "client"] = "t\(number)"
        connectionLogger[metadataKey: "peer"] = "\(peer)"
        let connection = RTMPConnection(configuration: configuration, router: router, clientID: String(number, radix: 16), logger: connectionLogger,
                                        limitLog: limitLog, peerAddress: peer, now: now, httpHost: host)
        let session = RTMPTSession(connection: connection, peer: peer, resolver: resolver, threadPool: threadPool, now: now)
        let added = sessions.withLock { sessions -> Bool in
            guard sessions.count < maximumSessions else { return false }
            sessions[id] = session
            return true
        }
        guard added else {
            limitLog.closed("RTMPT session from \(peer)", reason: "\(maximumSessions) connections already open")
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
            Task { await session.close() }
        }
    }

    public var sessionCount: Int { sessions.withLock { $0.count } }
}

/// One tunnelled connection. An actor: a player's polls for one session are answered one
/// at a time, in order.
actor RTMPTSession {
    let connection: RTMPConnection
    nonisolated let peer: String
    let resolver: MediaResolver
    let threadPool: NIOThreadPool
    nonisolated let lastUsed: Atomic<UInt64>
    private(set) var isClosed = false
    /// The polling byte each answer starts with: 1 while data flows, doubled after every
    /// ten empty answers up to 32, as Red5 does (the client waits longer between idles).
    private var delay: UInt8 = 1
    private var emptyAnswers = 0
    /// The most RTMP bytes one answer carries: what a poll takes is bounded, as a socket's
    /// buffer bounds what TCP takes; the playback's own pacing keeps the rest back.
    static let answerLimit = 256 * 1024

    init(connection: RTMPConnection, peer: String, resolver: MediaResolver, threadPool: NIOThreadPool, now: UInt64) {
        self.connection = connection
        self.peer = peer
        self.resolver = resolver
        self.threadPool = threadPool
        lastUsed = Atomic(now)
    }

    /// Hands the client's bytes to the connection, lets it run, and answers with the
    /// polling byte and what it has to send.
    func exchange(_ body: ByteBuffer, now: UInt64) async -> ByteBuffer {
        lastUsed.store(now, ordering: .relaxed)
        guard !isClosed else { return ByteBuffer(bytes: [0]) }
        if body.readableBytes > 0 { connection.receive(body, now: now) }
        connection.wake(now: now)
        await openRequestedMedia()
        var answer = ByteBuffer(bytes: [0])
        collect(into: &answer)
        while connection.closeRequest == nil, answer.readableBytes < Self.answerLimit, connection.pump(now: RTMPConnectionHandler.now()) {
            collect(into: &answer)
        }
        collect(into: &answer)
        if connection.closeRequest != nil {
            isClosed = true
            connection.disconnected()
        }
        if answer.readableBytes > 1 {
            delay = 1
            emptyAnswers = 0
        } else {
            emptyAnswers += 1
            if emptyAnswers >= 10 {
                delay = min(delay * 2, 32)
                emptyAnswers = 0
            }
        }
        answer.setInteger(delay, at: answer.readerIndex)
        return answer
    }

    private func collect(into answer: inout ByteBuffer) {
        if var output = connection.takeOutput() { answer.writeBuffer(&output) }
    }

    /// A first open scans the file: on the thread pool.
    private func openRequestedMedia() async {
        while case let requests = connection.takeMediaOpenRequests(), !requests.isEmpty {
            for request in requests {
                let resolver = self.resolver
                let opened = (try? await threadPool.runIfActive { resolver.open(request.name, route: request.route) }) ?? nil
                connection.mediaOpened(request.id, opened ?? .failure(.notFound), now: RTMPConnectionHandler.now())
            }
        }
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        connection.disconnected()
    }
}

extension RTMPServer {
    /// RTMPT on the public port, with this server's settings, routing and media.
    public func makeTunnel() -> RTMPTunnel {
        RTMPTunnel(configuration: configuration, router: router, resolver: resolver, threadPool: threadPool, logger: logger, limitLog: limitLog)
    }
}
