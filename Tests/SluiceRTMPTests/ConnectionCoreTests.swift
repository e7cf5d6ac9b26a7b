import NIOCore
import SluiceMedia
import SluiceRTMP
import SluiceTestSupport
import XCTest

/// The channel-free connection core, driven with a fake clock: pacing, pause, seek,
/// playlists, held-back messages and timeouts, with no socket and no sleep.
final class ConnectionCoreTests: XCTestCase {
    private static let lead = UInt64(VODPlayback.margin + VODPlayback.batchQuantum)
    private var bucketRoot = ""

    override func setUp() async throws {
        bucketRoot = try await TestMedia.shared.bucketRoot([.flvIndexed, .flvPlain, .mp4MoovAtEnd])
    }

    /// A connected peer playing `name` with a buffer of `buffer` ms; returns it and the stream.
    private func playing(_ name: String, buffer: UInt32, start: Double = -2000) throws -> (ConnectionTestPeer, UInt32) {
        let peer = ConnectionTestPeer(bucketRoot: bucketRoot)
        XCTAssertEqual(peer.connect()?.name, "_result")
        let stream = try XCTUnwrap(peer.createStream())
        peer.setBufferLength(streamID: stream, milliseconds: buffer)
        peer.play(streamID: stream, name, start: start)
        return (peer, stream)
    }

    private func lastMediaTime(_ peer: ConnectionTestPeer) -> UInt64 {
        UInt64(peer.mediaTags.filter { !$0.isSequenceHeader }.map(\.timestamp).max() ?? 0)
    }

    func testPlaybackIsPacedByTheClock() throws {
        let (peer, _) = try playing("indexed.flv", buffer: 2000)
        let started = peer.now
        XCTAssertEqual(Array(peer.statusCodes.filter { $0.hasPrefix("NetStream.") }.prefix(2)), ["NetStream.Play.Reset", "NetStream.Play.Start"])
        XCTAssertLessThanOrEqual(lastMediaTime(peer), 2000 + Self.lead, "only a buffer and a margin go out at once")
        XCTAssertGreaterThanOrEqual(lastMediaTime(peer), 2000, "a whole buffer goes out at once")
        for _ in 0..<100 {
            peer.advance(by: 100)
            let elapsed = peer.now - started
            let sent = lastMediaTime(peer)
            XCTAssertLessThanOrEqual(sent, elapsed + 2000 + Self.lead, "ahead of the playhead by more than the lead at \(elapsed) ms")
            XCTAssertGreaterThanOrEqual(sent + 100, elapsed + 2000, "the player's buffer ran low at \(elapsed) ms")
        }
        XCTAssertFalse(peer.statusCodes.contains("NetStream.Play.Complete"))
        peer.advance(by: 40_000)
        XCTAssertEqual(Array(peer.statusCodes.suffix(2)), ["NetStream.Play.Complete", "NetStream.Play.Stop"])
        // The end goes out one lead before the clip ends on the clock, not later.
        let stopArrived = peer.arrivals[try XCTUnwrap(peer.index(ofStatus: "NetStream.Play.Stop"))] - started
        XCTAssertLessThan(stopArrived, 40_000 - 2000 + 500)
        XCTAssertGreaterThan(stopArrived, 40_000 - 2000 - UInt64(VODPlayback.margin) - 500)
        XCTAssertFalse(peer.connection.isPlaying)
    }

    /// RTMPE inside the core: each handshake type, then a whole paced play through RC4
    /// gets exactly what a plain connection gets, on the same fake clock.
    func testRTMPEPlaysExactlyAsPlainRTMP() throws {
        func play(encryption: UInt8?) throws -> ConnectionTestPeer {
            let peer = ConnectionTestPeer(bucketRoot: bucketRoot)
            XCTAssertEqual(peer.connect(encryption: encryption)?.name, "_result")
            let stream = try XCTUnwrap(peer.createStream())
            peer.setBufferLength(streamID: stream, milliseconds: 3000)
            peer.play(streamID: stream, "indexed.flv")
            peer.advance(by: 45_000)
            return peer
        }
        let plain = try play(encryption: nil)
        XCTAssertEqual(Array(plain.statusCodes.suffix(2)), ["NetStream.Play.Complete", "NetStream.Play.Stop"])
        for type: UInt8 in [6, 8, 9] {
            let encrypted = try play(encryption: type)
            XCTAssertEqual(encrypted.statusCodes, plain.statusCodes, "type \(type)")
            XCTAssertTrue(encrypted.mediaTags.map(\.payload) == plain.mediaTags.map(\.payload), "type \(type): media differs")
            XCTAssertEqual(encrypted.arrivals, plain.arrivals, "type \(type): paced differently")
        }
    }

    func testAHugeBufferIsSentAtOnce() throws {
        // rtmpdump asks for ten hours: the whole file goes as fast as the socket takes it.
        let (peer, _) = try playing("plain.flv", buffer: 36_000_000)
        XCTAssertEqual(Array(peer.statusCodes.suffix(2)), ["NetStream.Play.Complete", "NetStream.Play.Stop"])
        XCTAssertGreaterThan(lastMediaTime(peer), 39_000)
    }

    func testPauseSendsNothingAndUnpauseContinuesWithoutRepeats() throws {
        let (peer, stream) = try playing("indexed.flv", buffer: 100)
        peer.advance(by: 600)
        peer.pause(streamID: stream, true, milliseconds: 600)
        XCTAssertEqual(peer.statusCodes.last, "NetStream.Pause.Notify")
        let lastBeforePause = lastMediaTime(peer)
        let countBeforePause = peer.mediaTags.count
        XCTAssertLessThan(lastBeforePause, 600 + 100 + Self.lead)
        peer.advance(by: 30_000)
        XCTAssertEqual(peer.mediaTags.count, countBeforePause, "media sent while paused")
        peer.pause(streamID: stream, false, milliseconds: 600)
        XCTAssertEqual(peer.statusCodes.last, "NetStream.Unpause.Notify")
        peer.advance(by: 100)
        let resumed = peer.mediaTags.dropFirst(countBeforePause)
        let first = try XCTUnwrap(resumed.first)
        XCTAssertGreaterThan(first.timestamp, UInt32(lastBeforePause), "no tag is sent twice")
        XCTAssertLessThan(first.timestamp, UInt32(lastBeforePause) + 100, "no jump after unpause")
        XCTAssertLessThanOrEqual(lastMediaTime(peer), 600 + 100 + 100 + Self.lead, "paced from the unpause position")
    }

    func testSeekRestartsAtTheKeyframeWithSequenceHeadersFirst() throws {
        let (peer, stream) = try playing("plain.flv", buffer: 2000)
        peer.advance(by: 1000)
        let mark = peer.events.count
        peer.seek(streamID: stream, milliseconds: 21_500)
        let after = Array(peer.events[mark...])
        XCTAssertEqual(Array(after.compactMap(\.statusCode).prefix(2)), ["NetStream.Seek.Notify", "NetStream.Play.Start"])
        let media = after.compactMap { event -> MediaTag? in if case .media(let tag, _) = event { return tag } else { return nil } }
        XCTAssertTrue(media.first?.isSequenceHeader == true)
        let frame = try XCTUnwrap(media.first { $0.type == .video && !$0.isSequenceHeader })
        XCTAssertTrue(frame.isKeyframe)
        XCTAssertEqual(frame.timestamp, 20023, "keyframes every 2 s from 23 ms: 20.023 is the last at or before 21.5")
        XCTAssertLessThanOrEqual(media.map(\.timestamp).max() ?? 0, 20023 + 2000 + UInt32(Self.lead), "paced from the new position")
    }

    func testMessagesAfterAPlayWaitUntilItsMediaIsOpen() throws {
        let peer = ConnectionTestPeer(bucketRoot: bucketRoot)
        peer.connect()
        let stream = try XCTUnwrap(peer.createStream())
        peer.holdOpens = true
        peer.play(streamID: stream, "indexed.flv")
        peer.seek(streamID: stream, milliseconds: 10_000)
        XCTAssertEqual(peer.heldOpens.map(\.name), ["indexed.flv"])
        XCTAssertFalse(peer.statusCodes.contains("NetStream.Seek.Notify"), "a seek acted on before its play opened")
        XCTAssertFalse(peer.statusCodes.contains("NetStream.Seek.Failed"))
        peer.answerOpens()
        let start = try XCTUnwrap(peer.index(ofStatus: "NetStream.Play.Start"))
        let notify = try XCTUnwrap(peer.index(ofStatus: "NetStream.Seek.Notify"))
        XCTAssertLessThan(start, notify)
    }

    func testPlayWithoutResetContinuesTheTimelineInAPlaylist() throws {
        let peer = ConnectionTestPeer(bucketRoot: bucketRoot)
        peer.connect()
        let stream = try XCTUnwrap(peer.createStream())
        peer.setBufferLength(streamID: stream, milliseconds: 1000)
        let started = peer.now
        peer.play(streamID: stream, "plain.flv")
        peer.play(streamID: stream, "mp4:moov-end.mp4", reset: false)
        peer.advance(by: 80_000)
        let codes = peer.statusCodes
        XCTAssertTrue(codes.contains("NetStream.Play.Switch"), "\(codes)")
        XCTAssertEqual(Array(codes.suffix(2)), ["NetStream.Play.Complete", "NetStream.Play.Stop"])
        let video = peer.mediaTags.filter { $0.type == .video && !$0.isSequenceHeader }.map(\.timestamp)
        XCTAssertEqual(video, video.sorted(), "video timestamps go back across the playlist")
        XCTAssertGreaterThan(video.last ?? 0, 40_000 + 29_000, "the second item continues the first's timeline")
        // The second item is paced on the first one's clock: never more than a buffer and
        // a margin ahead of the playhead, before or after the switch.
        for (tag, _, arrived) in peer.media where !tag.isSequenceHeader {
            XCTAssertLessThanOrEqual(UInt64(tag.timestamp), arrived - started + 1000 + Self.lead + 40, "sent early at \(arrived - started) ms")
        }
    }

    func testMissingStreamIsReportedAndTheConnectionStays() throws {
        let (peer, _) = try playing("missing.flv", buffer: 1000)
        XCTAssertEqual(peer.statusCodes.last, "NetStream.Play.StreamNotFound")
        XCTAssertNil(peer.connection.closeRequest)
        XCTAssertNotNil(peer.createStream())
    }

    func testAnUnfinishedHandshakeIsClosedOnTime() {
        let peer = ConnectionTestPeer(bucketRoot: bucketRoot)
        peer.receive([3, 0, 0])
        peer.advance(by: 9000)
        XCTAssertNil(peer.connection.closeRequest)
        peer.advance(by: 6000)
        guard case .now(let reason)? = peer.connection.closeRequest else {
            return XCTFail("not closed: \(String(describing: peer.connection.closeRequest))")
        }
        XCTAssertTrue(reason.contains("handshake"), reason)
    }

    func testASilentClientIsPingedThenDropped() {
        let peer = ConnectionTestPeer(bucketRoot: bucketRoot)
        peer.connect()
        peer.advance(by: 29_000)
        XCTAssertFalse(peer.events.contains { if case .userControl(.pingRequest) = $0 { return true } else { return false } })
        peer.advance(by: 7000)
        XCTAssertTrue(peer.events.contains { if case .userControl(.pingRequest) = $0 { return true } else { return false } })
        XCTAssertNil(peer.connection.closeRequest)
        peer.advance(by: 90_000)
        guard case .now(let reason)? = peer.connection.closeRequest else { return XCTFail("a silent client was kept") }
        XCTAssertTrue(reason.contains("idle"), reason)
    }

    func testServerStopEndsPlaysThenClosesAfterTheyAreSent() throws {
        let (peer, _) = try playing("indexed.flv", buffer: 1000)
        let mark = peer.events.count
        peer.serverStopping()
        XCTAssertEqual(peer.connection.closeRequest, .afterFlush(reason: "server shutting down"))
        XCTAssertEqual(peer.events.dropFirst(mark).compactMap(\.statusCode), ["NetStream.Play.Stop"])
        XCTAssertNil(peer.connection.nextWakeUp, "a closing connection wants no timer")
    }
}
