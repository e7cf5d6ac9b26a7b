import NIOCore
import NIOPosix
import SluiceMedia
import Synchronization

/// One tunnelled connection, bound to an event loop: its `RTMPConnection` is touched
/// only there. A player's polls for it are answered one at a time, in order: each
/// exchange starts when the one before it has its answer, even when a media file had to
/// open on the thread pool in between.
final class RTMPTSession: @unchecked Sendable {
    let peer: String
    let eventLoop: any EventLoop
    let lastUsed: Atomic<UInt64>
    private let connection: RTMPConnection
    private let resolver: MediaResolver
    private let threadPool: NIOThreadPool
    private var isClosed = false
    /// The exchange before the next one.
    private var previous: EventLoopFuture<Void>
    /// The polling byte each answer starts with: 1 while data flows, doubled after every
    /// ten empty answers up to 32, as Red5 does (the client waits longer between idles).
    private var delay: UInt8 = 1
    private var emptyAnswers = 0
    /// The most RTMP bytes one answer carries: what a poll takes is bounded, as a socket's
    /// buffer bounds what TCP takes; the playback's own pacing keeps the rest back.
    static let answerLimit = 256 * 1024
    /// The first answer of a burst carries at most this much, so that the first frames
    /// leave without waiting for a quarter megabyte to be read and chunked behind them;
    /// each answer that fills its budget doubles the next one's, up to `answerLimit`.
    static let firstAnswerLimit = 16 * 1024
    private var answerBudget = firstAnswerLimit

    init(connection: RTMPConnection, peer: String, eventLoop: any EventLoop, resolver: MediaResolver, threadPool: NIOThreadPool, now: UInt64) {
        self.connection = connection
        self.peer = peer
        self.eventLoop = eventLoop
        self.resolver = resolver
        self.threadPool = threadPool
        lastUsed = Atomic(now)
        previous = eventLoop.makeSucceededVoidFuture()
    }

    /// Hands the client's bytes to the connection, lets it run, and answers with the
    /// polling byte and what it has to send; `closed` once the connection has ended.
    func exchange(_ body: ByteBuffer) -> EventLoopFuture<(answer: ByteBuffer, closed: Bool)> {
        onLoop {
            let result = self.previous.flatMap { self.run(body) }
            self.previous = result.map { _ in }
            return result
        }
    }

    func close() -> EventLoopFuture<Void> {
        onLoop {
            let closed = self.previous.map {
                guard !self.isClosed else { return }
                self.isClosed = true
                self.connection.disconnected()
            }
            self.previous = closed
            return closed
        }
    }

    private func onLoop<T: Sendable>(_ body: @escaping @Sendable () -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        eventLoop.inEventLoop ? body() : eventLoop.flatSubmit(body)
    }

    private func run(_ body: ByteBuffer) -> EventLoopFuture<(answer: ByteBuffer, closed: Bool)> {
        let now = RTMPConnectionHandler.now()
        lastUsed.store(now, ordering: .relaxed)
        guard !isClosed else { return eventLoop.makeSucceededFuture((ByteBuffer(bytes: [0]), true)) }
        if body.readableBytes > 0 { connection.receive(body, now: now) }
        connection.wake(now: now)
        return openRequestedMedia().map { self.collectAnswer() }
    }

    private func collectAnswer() -> (answer: ByteBuffer, closed: Bool) {
        var answer = ByteBuffer(bytes: [0])
        collect(into: &answer)
        while connection.closeRequest == nil, answer.readableBytes < answerBudget, connection.pump(now: RTMPConnectionHandler.now()) {
            collect(into: &answer)
        }
        collect(into: &answer)
        answerBudget = answer.readableBytes >= answerBudget ? min(answerBudget * 2, Self.answerLimit) : Self.firstAnswerLimit
        if connection.closeRequest != nil, !isClosed {
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
        return (answer, isClosed)
    }

    private func collect(into answer: inout ByteBuffer) {
        if var output = connection.takeOutput() { answer.writeBuffer(&output) }
    }

    /// An indexed file opens at once; a first open scans the file, on the thread pool.
    private func openRequestedMedia() -> EventLoopFuture<Void> {
        let requests = connection.takeMediaOpenRequests()
        guard !requests.isEmpty else { return eventLoop.makeSucceededVoidFuture() }
        var opened = eventLoop.makeSucceededVoidFuture()
        for request in requests {
            opened = opened.flatMap {
                if let answer = self.resolver.open(request.name, route: request.route, onlyIfIndexed: true) {
                    self.connection.mediaOpened(request.id, answer, now: RTMPConnectionHandler.now())
                    return self.eventLoop.makeSucceededVoidFuture()
                }
                let resolver = self.resolver
                return self.threadPool.runIfActive(eventLoop: self.eventLoop) { resolver.open(request.name, route: request.route) }
                    .recover { _ in nil }
                    .map { answer in self.connection.mediaOpened(request.id, answer ?? .failure(.notFound), now: RTMPConnectionHandler.now()) }
            }
        }
        // Opening may have asked for more.
        return opened.flatMap { self.openRequestedMedia() }
    }
}
