import NIOCore
import SluiceMedia
import SluiceRTMP
import SluiceTestSupport
import XCTest

/// play2 on the connection core with a fake clock: switches between renditions at
/// keyframes with a continuous timeline, fast switches, failures that leave the old
/// rendition playing, and the playlist transitions.
final class Play2CoreTests: XCTestCase {
    private var bucketRoot = ""

    override func setUp() async throws {
        bucketRoot = try await TestMedia.shared.bucketRoot([
            .renditionHighFLV, .renditionLowFLV, .renditionHighMP4, .renditionLowMP4, .renditionUnaligned, .flvPlain,
        ])
    }

    private func playing(_ name: String, buffer: UInt32 = 2000, objectEncoding: Double = 0) throws -> (ConnectionTestPeer, UInt32) {
        let peer = ConnectionTestPeer(bucketRoot: bucketRoot)
        XCTAssertEqual(peer.connect(objectEncoding: objectEncoding)?.name, "_result")
        let stream = try XCTUnwrap(peer.createStream())
        peer.setBufferLength(streamID: stream, milliseconds: buffer)
        peer.play(streamID: stream, name)
        return (peer, stream)
    }

    private func reader(_ name: String) throws -> any MediaReader {
        let resolver = MediaResolver(library: FolderMediaLibrary(root: bucketRoot))
        guard case .success(let box)? = resolver.open(name, route: StreamRoute(bucket: "media")) else {
            throw XCTSkip("cannot open \(name)")
        }
        return box.reader
    }

    private func videoFrames(_ name: String) throws -> Int {
        let media = try reader(name)
        var count = 0
        while let tag = try media.nextTag() {
            if tag.type == .video && !tag.isSequenceHeader { count += 1 }
        }
        return count
    }

    private func lastVideo(_ peer: ConnectionTestPeer) -> UInt32 {
        peer.mediaTags.last { $0.type == .video && !$0.isSequenceHeader }?.timestamp ?? 0
    }

    /// Checks a switch from `old` to `new` that was asked for at event `mark`, after the
    /// old rendition had sent up to `sent`: statuses, the headers before the first new
    /// frame, the keyframe at the switch point and a timeline without a break.
    private func checkSwitch(_ peer: ConnectionTestPeer, from old: String, to new: String, mark: Int, sent: UInt32,
                             expectedPoint: UInt32? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let transition = try XCTUnwrap(peer.index(ofStatus: "NetStream.Play.Transition", after: mark - 1), "no Transition", file: file, line: line)
        let complete = try XCTUnwrap(peer.index(ofStatus: "NetStream.Play.TransitionComplete", after: transition), "no TransitionComplete",
                                     file: file, line: line)
        // Just before TransitionComplete: the new rendition's onMetaData and sequence headers.
        let newReader = try reader(new)
        let headers = newReader.sequenceHeaders.map(\.payload)
        let before = peer.events[(complete - 1 - headers.count)..<complete]
        guard case .data(let values, _, _, _) = before.first, values.first == "onMetaData" else {
            return XCTFail("no onMetaData right before the new headers: \(before)", file: file, line: line)
        }
        let sentHeaders = before.dropFirst().compactMap { event -> [UInt8]? in if case .media(let tag, _) = event { return tag.payload } else { return nil } }
        XCTAssertEqual(sentHeaders, headers, "the new rendition's sequence headers", file: file, line: line)
        // With the first new frame: a keyframe at the switch point, after what was sent.
        let newMedia = peer.events[(complete + 1)...].compactMap { event -> MediaTag? in if case .media(let tag, _) = event { return tag } else { return nil } }
        let firstVideo = try XCTUnwrap(newMedia.first { $0.type == .video }, file: file, line: line)
        XCTAssertTrue(firstVideo.isKeyframe, file: file, line: line)
        XCTAssertGreaterThan(firstVideo.timestamp, sent, "the switch point is after what had been sent", file: file, line: line)
        XCTAssertEqual(newReader.keyframe(atOrAfter: firstVideo.timestamp), firstVideo.timestamp, file: file, line: line)
        if let expectedPoint { XCTAssertEqual(firstVideo.timestamp, expectedPoint, file: file, line: line) }
        // The timeline: video never goes back and has no gap longer than a frame (25 fps);
        // audio never overlaps.
        let video = peer.mediaTags.filter { $0.type == .video && !$0.isSequenceHeader }.map(\.timestamp)
        XCTAssertEqual(video, video.sorted(), "video went back", file: file, line: line)
        for (a, b) in zip(video, video.dropFirst()) where b - a > 40 {
            XCTFail("a gap of \(b - a) ms in video at \(a)", file: file, line: line)
        }
        let audio = peer.mediaTags.filter { $0.type == .audio && !$0.isSequenceHeader }.map(\.timestamp)
        for (a, b) in zip(audio, audio.dropFirst()) where b <= a {
            XCTFail("audio at \(b) after \(a): overlap", file: file, line: line)
        }
        let oldAudio = peer.events[..<complete].compactMap { event -> UInt32? in
            if case .media(let tag, _) = event, tag.type == .audio, !tag.isSequenceHeader { return tag.timestamp } else { return nil }
        }
        XCTAssertLessThan(oldAudio.last ?? 0, firstVideo.timestamp, "old audio is cut before the new keyframe", file: file, line: line)
        _ = old
    }

    private func switchOnce(from old: String, to new: String) throws {
        let (peer, stream) = try playing(old)
        peer.advance(by: 3000)
        let sent = lastVideo(peer)
        let mark = peer.events.count
        peer.play2(streamID: stream, ["streamName": .string(new), "oldStreamName": .string(old), "transition": "switch"])
        XCTAssertEqual(peer.events.dropFirst(mark).compactMap(\.statusCode).first, "NetStream.Play.Transition", "Transition at once")
        peer.advance(by: 30_000)
        try checkSwitch(peer, from: old, to: new, mark: mark, sent: sent)
        XCTAssertEqual(Array(peer.statusCodes.suffix(2)), ["NetStream.Play.Complete", "NetStream.Play.Stop"])
    }

    func testSwitchBetweenFLVRenditions() throws {
        try switchOnce(from: "high.flv", to: "low.flv")
        try switchOnce(from: "low.flv", to: "high.flv")
    }

    func testSwitchBetweenMP4Renditions() throws {
        try switchOnce(from: "mp4:high.mp4", to: "mp4:low.mp4")
    }

    func testSwitchBetweenFLVAndMP4() throws {
        try switchOnce(from: "high.flv", to: "mp4:low.mp4")
        try switchOnce(from: "mp4:low.mp4", to: "high.flv")
    }

    func testSwitchToUnalignedKeyframesKeepsTheTimeline() throws {
        try switchOnce(from: "high.flv", to: "unaligned.flv")
    }

    func testSwitchUpAndDownRepeatedly() throws {
        let (peer, stream) = try playing("high.flv")
        var current = "high.flv"
        // A standard switch waits for the next keyframe after what was sent (2 s GOPs).
        for round in 0..<4 {
            peer.advance(by: 1500)
            let next = round % 2 == 0 ? "low.flv" : "high.flv"
            let mark = peer.events.count
            let sent = lastVideo(peer)
            peer.play2(streamID: stream, ["streamName": .string(next), "oldStreamName": .string(current), "transition": "switch"])
            peer.advance(by: 2500)
            XCTAssertEqual(peer.events.dropFirst(mark).compactMap(\.statusCode), ["NetStream.Play.Transition", "NetStream.Play.TransitionComplete"],
                           "round \(round) at \(sent)")
            try checkSwitch(peer, from: current, to: next, mark: mark, sent: sent)
            current = next
        }
        peer.advance(by: 30_000)
        XCTAssertEqual(peer.statusCodes.filter { $0 == "NetStream.Play.TransitionComplete" }.count, 4)
        XCTAssertEqual(peer.statusCodes.last, "NetStream.Play.Stop")
    }

    func testFastSwitchStartsAtTheFirstKeyframeAtOrAfterTheOffset() throws {
        let (peer, stream) = try playing("high.flv")
        peer.advance(by: 3000)
        let sent = lastVideo(peer)
        let mark = peer.events.count
        let offset = Double(sent) / 1000 + 3.1
        peer.play2(streamID: stream, ["streamName": "low.flv", "oldStreamName": "high.flv", "transition": "switch", "offset": .number(offset)])
        peer.advance(by: 30_000)
        let expected = try XCTUnwrap(try reader("low.flv").keyframe(atOrAfter: UInt32(offset * 1000)))
        try checkSwitch(peer, from: "high.flv", to: "low.flv", mark: mark, sent: sent, expectedPoint: expected)
    }

    func testOffsetBehindWhatWasSentFailsAndTheOldRenditionPlaysOn() throws {
        let (peer, stream) = try playing("high.flv")
        peer.advance(by: 3000)
        let mark = peer.events.count
        peer.play2(streamID: stream, ["streamName": "low.flv", "oldStreamName": "high.flv", "transition": "switch", "offset": 1.0])
        XCTAssertEqual(peer.events.dropFirst(mark).compactMap(\.statusCode), ["NetStream.Play.Failed"])
        peer.advance(by: 30_000)
        XCTAssertNil(peer.index(ofStatus: "NetStream.Play.TransitionComplete"))
        XCTAssertEqual(Array(peer.statusCodes.suffix(2)), ["NetStream.Play.Complete", "NetStream.Play.Stop"])
        let video = peer.mediaTags.filter { $0.type == .video && !$0.isSequenceHeader }.map(\.timestamp)
        XCTAssertEqual(video, video.sorted())
        XCTAssertEqual(video.count, try videoFrames("high.flv"), "every frame of the old rendition, once")
    }

    func testSwitchToAMissingStreamKeepsTheOldOnePlaying() throws {
        let (peer, stream) = try playing("high.flv")
        peer.advance(by: 3000)
        let mark = peer.events.count
        peer.play2(streamID: stream, ["streamName": "nowhere.flv", "oldStreamName": "high.flv", "transition": "switch"])
        XCTAssertEqual(peer.events.dropFirst(mark).compactMap(\.statusCode), ["NetStream.Play.StreamNotFound"])
        peer.advance(by: 30_000)
        XCTAssertEqual(Array(peer.statusCodes.suffix(2)), ["NetStream.Play.Complete", "NetStream.Play.Stop"])
        XCTAssertEqual(peer.mediaTags.filter { $0.type == .video && !$0.isSequenceHeader }.count, try videoFrames("high.flv"))
    }

    func testSeekAfterASwitchActsOnTheNewRendition() throws {
        let (peer, stream) = try playing("high.flv")
        peer.advance(by: 3000)
        peer.play2(streamID: stream, ["streamName": "low.flv", "oldStreamName": "high.flv", "transition": "switch"])
        peer.advance(by: 3000)
        XCTAssertNotNil(peer.index(ofStatus: "NetStream.Play.TransitionComplete"))
        let mark = peer.events.count
        peer.seek(streamID: stream, milliseconds: 12_500)
        let notify = try XCTUnwrap(peer.index(ofStatus: "NetStream.Seek.Notify", after: mark - 1))
        let media = peer.events[notify...].compactMap { event -> MediaTag? in if case .media(let tag, _) = event { return tag } else { return nil } }
        XCTAssertEqual(media.first { $0.type == .video }?.payload, try reader("low.flv").sequenceHeaders.first { $0.type == .video }?.payload)
        XCTAssertEqual(media.first { $0.type == .video && !$0.isSequenceHeader }?.timestamp, try reader("low.flv").seek(to: 12_500))
    }

    func testSeekWhileASwitchIsPendingSwitchesAtOnce() throws {
        let (peer, stream) = try playing("high.flv", buffer: 100)
        peer.advance(by: 1000)
        peer.play2(streamID: stream, ["streamName": "low.flv", "oldStreamName": "high.flv", "transition": "switch"])
        XCTAssertNil(peer.index(ofStatus: "NetStream.Play.TransitionComplete"), "with a short buffer the switch point is still ahead")
        peer.seek(streamID: stream, milliseconds: 8000)
        XCTAssertNotNil(peer.index(ofStatus: "NetStream.Play.TransitionComplete"))
        let notify = try XCTUnwrap(peer.index(ofStatus: "NetStream.Seek.Notify"))
        let media = peer.events[notify...].compactMap { event -> MediaTag? in if case .media(let tag, _) = event { return tag } else { return nil } }
        XCTAssertEqual(media.first { $0.type == .video }?.payload, try reader("low.flv").sequenceHeaders.first { $0.type == .video }?.payload)
    }

    func testAMF3ClientSwitches() throws {
        let (peer, stream) = try playing("high.flv", objectEncoding: 3)
        peer.advance(by: 3000)
        let mark = peer.events.count
        let sent = lastVideo(peer)
        peer.play2(streamID: stream, ["streamName": "low.flv", "oldStreamName": "high.flv", "transition": "switch"], amf3: true)
        peer.advance(by: 5000)
        try checkSwitch(peer, from: "high.flv", to: "low.flv", mark: mark, sent: sent)
    }

    func testSwitchWithNothingPlayingPlaysTheStream() throws {
        let peer = ConnectionTestPeer(bucketRoot: bucketRoot)
        peer.connect()
        let stream = try XCTUnwrap(peer.createStream())
        peer.play2(streamID: stream, ["streamName": "low.flv", "transition": "switch"])
        XCTAssertTrue(peer.statusCodes.contains("NetStream.Play.Start"))
    }

    // MARK: Playlist transitions

    private func startedNames(_ peer: ConnectionTestPeer) -> [String] {
        peer.events.compactMap { event -> String? in
            guard case .command(let command, _, _) = event, command.arguments.first?["code"]?.stringValue == "NetStream.Play.Start" else { return nil }
            return command.arguments.first?["details"]?.stringValue
        }
    }

    func testAppendAndWaitBuildsAPlaylistThatResumeStarts() throws {
        let peer = ConnectionTestPeer(bucketRoot: bucketRoot)
        peer.connect()
        let stream = try XCTUnwrap(peer.createStream())
        peer.setBufferLength(streamID: stream, milliseconds: 1000)
        peer.play2(streamID: stream, ["streamName": "low.flv", "transition": "appendAndWait"])
        peer.play2(streamID: stream, ["streamName": "high.flv", "transition": "appendAndWait"])
        peer.advance(by: 5000)
        XCTAssertTrue(peer.mediaTags.isEmpty, "appendAndWait started playing")
        // A reconnecting player resumes the first item where it was.
        peer.play2(streamID: stream, ["streamName": "plain.flv", "transition": "resume", "start": 30])
        peer.advance(by: 60_000)
        XCTAssertEqual(startedNames(peer), ["plain.flv", "low.flv", "high.flv"])
        let firstVideo = try XCTUnwrap(peer.mediaTags.first { $0.type == .video && !$0.isSequenceHeader })
        XCTAssertLessThanOrEqual(firstVideo.timestamp, 30_000)
        XCTAssertGreaterThan(firstVideo.timestamp, 27_000)
        XCTAssertEqual(peer.statusCodes.last, "NetStream.Play.Stop")
    }

    func testAppendQueuesAndSwapReplacesAQueuedItem() throws {
        let (peer, stream) = try playing("low.flv")
        peer.play2(streamID: stream, ["streamName": "high.flv", "transition": "append"])
        peer.play2(streamID: stream, ["streamName": "mp4:low.mp4", "oldStreamName": "high.flv", "transition": "swap"])
        peer.advance(by: 60_000)
        XCTAssertEqual(startedNames(peer), ["low.flv", "mp4:low.mp4"])
    }

    func testSwapOfThePlayingItemPlaysTheNewOneAtItsEnd() throws {
        let (peer, stream) = try playing("low.flv")
        peer.play2(streamID: stream, ["streamName": "high.flv", "oldStreamName": "low.flv", "transition": "swap"])
        peer.advance(by: 60_000)
        XCTAssertEqual(startedNames(peer), ["low.flv", "high.flv"])
        let video = peer.mediaTags.filter { $0.type == .video && !$0.isSequenceHeader }.map(\.timestamp)
        XCTAssertEqual(video, video.sorted())
    }

    func testStopEndsThePlaylist() throws {
        let (peer, stream) = try playing("low.flv")
        peer.play2(streamID: stream, ["streamName": "high.flv", "transition": "append"])
        peer.advance(by: 1000)
        peer.play2(streamID: stream, ["streamName": "low.flv", "transition": "stop"])
        XCTAssertEqual(peer.statusCodes.last, "NetStream.Play.Stop")
        let count = peer.mediaTags.count
        peer.advance(by: 60_000)
        XCTAssertEqual(peer.mediaTags.count, count)
        XCTAssertFalse(peer.connection.isPlaying)
    }

    func testUnknownTransitionFails() throws {
        let (peer, stream) = try playing("low.flv")
        peer.play2(streamID: stream, ["streamName": "high.flv", "transition": "teleport"])
        XCTAssertEqual(peer.statusCodes.last, "NetStream.Play.Failed")
    }
}
