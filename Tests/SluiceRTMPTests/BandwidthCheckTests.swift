import NIOCore
import SluiceMedia
import SluiceRTMP
import SluiceTestSupport
import XCTest

/// The bandwidth check on the connection core, against a player whose reading speed is
/// simulated on the fake clock: it answers each call once it has read it.
final class BandwidthCheckTests: XCTestCase {
    private var bucketRoot = ""

    override func setUp() async throws {
        bucketRoot = try await TestMedia.shared.bucketRoot([.flvPlain])
    }

    /// The calls named `name` that arrived after event `index`, with their size on the wire.
    private func calls(_ peer: ConnectionTestPeer, _ name: String, after index: Int) -> [(transactionID: Double, bytes: Int)] {
        peer.events.dropFirst(index).compactMap { event in
            guard case .command(let command, _, _) = event, command.name == name else { return nil }
            let bytes = AMF0.encode([.string(command.name), .number(command.transactionID), command.commandObject] + command.arguments).count
            return (command.transactionID, bytes)
        }
    }

    private func answer(_ peer: ConnectionTestPeer, _ transactionID: Double) {
        peer.send(command: RTMPCommand(name: "_result", transactionID: transactionID, arguments: [.number(1)]))
    }

    /// Runs a check as a player reading `kilobits` per second with `latency` ms of round
    /// trip would; returns the done call's arguments.
    private func check(style checkCall: String, kilobits: Double, latency: UInt64) throws -> [Double] {
        let peer = ConnectionTestPeer(bucketRoot: bucketRoot)
        peer.connect()
        let librtmp = checkCall == "_checkbw"
        let (checkName, doneName) = librtmp ? ("_onbwcheck", "_onbwdone") : ("onBWCheck", "onBWDone")
        let mark = peer.events.count
        peer.send(command: RTMPCommand(name: checkCall, transactionID: librtmp ? 5 : 0))
        let first = try XCTUnwrap(calls(peer, checkName, after: mark).first)
        peer.advance(by: latency)
        answer(peer, first.transactionID)
        // The player reads the burst at its speed, answering each call as it is read; the
        // server keeps a few calls unanswered at a time.
        let start = peer.now
        var read = 0
        var answered: Set<Double> = [first.transactionID]
        var burstCalls = 0
        while let call = calls(peer, checkName, after: mark).first(where: { !answered.contains($0.transactionID) }) {
            burstCalls += 1
            read += call.bytes
            let due = start + latency / 2 + UInt64(Double(read * 8) / kilobits)
            if due > peer.now { peer.advance(by: due - peer.now) }
            answered.insert(call.transactionID)
            if peer.events.contains(where: { if case .command(let command, _, _) = $0 { return command.name == doneName } else { return false } }) { break }
            answer(peer, call.transactionID)
        }
        XCTAssertLessThanOrEqual(burstCalls, 16)
        peer.advance(by: 5000)
        let done = peer.events.compactMap { event -> RTMPCommand? in
            if case .command(let command, _, _) = event, command.name == doneName { return command } else { return nil }
        }
        XCTAssertEqual(done.count, 1, "one \(doneName)")
        return try XCTUnwrap(done.first).arguments.compactMap(\.doubleValue)
    }

    func testFMSStyleCheckMeasuresAPlayerAtTwoMegabits() throws {
        let figures = try check(style: "checkBandwidth", kilobits: 2000, latency: 40)
        XCTAssertEqual(figures.count, 4)
        XCTAssertEqual(figures[0], 2000, accuracy: 2000 * 0.05, "kbitDown")
        XCTAssertEqual(figures[3], 40, "latency")
    }

    func testLibrtmpStyleCheckMeasuresTheSameWay() throws {
        let figures = try check(style: "_checkbw", kilobits: 5000, latency: 10)
        XCTAssertEqual(figures[0], 5000, accuracy: 5000 * 0.05)
    }

    func testASlowPlayerIsMeasuredFromWhatItReadBeforeTheDeadline() throws {
        // 500 kbit/s reads about seven of the sixteen calls in four seconds.
        let figures = try check(style: "checkBandwidth", kilobits: 500, latency: 100)
        XCTAssertEqual(figures[0], 500, accuracy: 500 * 0.1)
        XCTAssertLessThanOrEqual(figures[2], 4000)
    }

    func testAPlayerThatNeverAnswersGetsAFigureAtTheDeadline() {
        let peer = ConnectionTestPeer(bucketRoot: bucketRoot)
        peer.connect()
        peer.send(command: RTMPCommand(name: "checkBandwidth", transactionID: 0))
        peer.advance(by: 3900)
        XCTAssertFalse(peer.events.contains { if case .command(let command, _, _) = $0 { return command.name == "onBWDone" } else { return false } })
        peer.advance(by: 200)
        XCTAssertTrue(peer.events.contains { if case .command(let command, _, _) = $0 { return command.name == "onBWDone" } else { return false } })
    }

    func testChecksPerConnectionAreBounded() {
        let peer = ConnectionTestPeer(bucketRoot: bucketRoot)
        peer.connect()
        for _ in 0..<10 {
            peer.send(command: RTMPCommand(name: "checkBandwidth", transactionID: 0))
            peer.advance(by: 5000)
        }
        let done = peer.events.filter { if case .command(let command, _, _) = $0 { return command.name == "onBWDone" } else { return false } }
        XCTAssertEqual(done.count, 4, "a client cannot make the server send 512 KB for ever")
        XCTAssertNil(peer.connection.closeRequest)
    }
}
