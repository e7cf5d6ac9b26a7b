import Foundation
import NIOCore
import SluiceMedia

/// What `sluice probe` does: connect as a Flash Player 10 would, check the bandwidth,
/// play, and keep a timeline; with a ladder, switch renditions with `play2`, on a
/// schedule or as a dynamic-streaming player would.
public struct ProbeOptions: Sendable {
    public var host: String
    public var port: Int
    public var app: String
    public var playpath: String
    public var digestHandshake = true
    public var checkBandwidth = true
    public var throttle: ReadThrottle?
    public var ladder: Ladder?
    public var abr = false
    public var switchEvery: Double?
    /// Fast switches: play2 with an `offset` just past what has been received, rather than
    /// a standard switch after everything the server has sent.
    public var fastSwitch = false
    /// Stop after this many seconds of playback (nil: play to the end).
    public var duration: Double?
    public var bufferMilliseconds: UInt32 = 4000
    /// Seconds without a byte from the server before the probe gives up.
    public var silenceTimeout = 10.0

    public var tcUrl: String { "rtmp://\(host):\(port)/\(app)" }

    public init(host: String, port: Int, app: String, playpath: String) {
        self.host = host
        self.port = port
        self.app = app
        self.playpath = playpath
    }

    /// Splits `rtmp://HOST[:PORT]/APP/PLAYPATH`; CloudFront's application is `cfx/st`.
    public init?(url: String) {
        guard let components = URLComponents(string: url), components.scheme == "rtmp", let host = components.host, !host.isEmpty else { return nil }
        let parts = components.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let appParts = parts.count > 2 && parts[0] == "cfx" ? 2 : 1
        guard parts.count > appParts else { return nil }
        self.init(host: host, port: components.port ?? 1935, app: parts[..<appParts].joined(separator: "/"),
                  playpath: parts[appParts...].joined(separator: "/"))
    }
}

/// What a probe saw.
public struct ProbeReport: Sendable, Codable {
    public struct Status: Sendable, Codable {
        public var seconds: Double
        public var code: String
        public var description: String?
    }

    public struct Switch: Sendable, Codable {
        public var seconds: Double
        public var from: String
        public var to: String
        /// Media time of the first frame of the new rendition, and how far it was from
        /// what had been received when play2 was sent (or from the offset asked for).
        public var firstFrame: UInt32?
        public var mediaWait: UInt32?
        /// A fast switch's offset, milliseconds.
        public var offset: UInt32?
        /// Wall seconds from play2 to TransitionComplete.
        public var wallSeconds: Double?
        /// Why the server refused the switch (the old rendition played on).
        public var refused: String?
    }

    public var url: String
    public var serverVerified = false
    public var connectSeconds: Double?
    public var bandwidthKilobits: Double?
    public var latencyMilliseconds: Double?
    public var firstFrameSeconds: Double?
    public var statuses: [Status] = []
    public var switches: [Switch] = []
    public var bytes = 0
    public var videoFrames = 0
    public var audioFrames = 0
    /// The last media timestamp received, milliseconds.
    public var mediaTime: UInt32 = 0
    /// The longest step between consecutive video frames, milliseconds.
    public var largestVideoGap: UInt32 = 0
    /// Times a timestamp went backwards or audio overlapped.
    public var timelineErrors = 0
    /// Seconds the playhead waited for media (a real player would have stalled).
    public var stallSeconds = 0.0
    public var renditions: [String] = []
    public var errors: [String] = []

    public var succeeded: Bool { errors.isEmpty && firstFrameSeconds != nil }
}

public enum Probe {
    enum Input {
        case event(RTMPClient.Event)
        case tick
    }

    /// Runs a probe; `line` gets the timeline as it happens.
    public static func run(_ options: ProbeOptions, line: @escaping @Sendable (String) -> Void) async -> ProbeReport {
        var report = ProbeReport(url: options.tcUrl + "/" + options.playpath)
        let client: RTMPClient
        do {
            client = try await RTMPClient.connect(host: options.host, port: options.port, digest: options.digestHandshake,
                                                  throttle: options.throttle)
        } catch {
            report.errors.append("cannot connect to \(options.host):\(options.port): \(error)")
            return report
        }
        report.serverVerified = client.serverVerified
        let (inputs, feed) = AsyncStream<Input>.makeStream()
        let forward = Task {
            for await event in client.events { feed.yield(.event(event)) }
            feed.finish()
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                feed.yield(.tick)
            }
        }
        defer {
            forward.cancel()
            ticker.cancel()
            client.close()
        }
        var session = ProbeSession(options: options, report: report, client: client, line: line)
        session.start()
        for await input in inputs {
            switch input {
            case .event(.message(let message, let seconds)): session.handle(message, at: seconds)
            case .event(.closed): session.closed()
            case .tick: session.tick()
            }
            if session.isFinished { break }
        }
        return session.report
    }
}

/// The probe's conversation, one input at a time.
struct ProbeSession {
    let options: ProbeOptions
    var report: ProbeReport
    let client: RTMPClient
    let line: @Sendable (String) -> Void
    private(set) var isFinished = false

    private let started = Date()
    private var streamID: UInt32 = 0
    private var playing: String
    private var abr: ABRController?
    private var lastVideo: UInt32?
    private var lastAudio: UInt32?
    private var lastInput = 0.0
    private var playStartedAt: Double?
    private var playhead = 0.0
    private var lastTick = 0.0
    private var arrivals: [(seconds: Double, bytes: Int)] = []
    private var walk: [Int] = []
    private var lastScheduledSwitch = 0.0
    /// A play2 switch asked for; `completed` once TransitionComplete came (the next video
    /// frame is the new rendition's first).
    private var pendingSwitch: (index: Int, sentAt: Double, mediaAt: UInt32, completed: Bool)?
    /// A video sequence header arrived since the pending switch's TransitionComplete was
    /// expected: the new rendition's must come before its first frame.
    private var sawSequenceHeader = false

    init(options: ProbeOptions, report: ProbeReport, client: RTMPClient, line: @escaping @Sendable (String) -> Void) {
        self.options = options
        self.report = report
        self.client = client
        self.line = line
        playing = options.playpath
    }

    private var now: Double { Date().timeIntervalSince(started) }

    private func say(_ text: String) {
        line(String(format: "%8.3f s  ", now) + text)
    }

    mutating func start() {
        say("connected to \(options.host):\(options.port)" + (options.digestHandshake ? (report.serverVerified ? ", digest handshake verified" : ", digest NOT verified") : ""))
        let properties: AMFObject = [
            "app": .string(options.app), "flashVer": "WIN 10,0,32,18", "tcUrl": .string(options.tcUrl), "fpad": false,
            "capabilities": 239, "audioCodecs": 3575, "videoCodecs": 252, "videoFunction": 1, "objectEncoding": 0,
        ]
        client.send(RTMPCommand(name: "connect", transactionID: 1, commandObject: .object(properties)))
    }

    private mutating func fail(_ reason: String) {
        report.errors.append(reason)
        say("error: " + reason)
        isFinished = true
    }

    mutating func closed() {
        if !isFinished { fail("the server closed the connection") }
    }

    mutating func handle(_ message: RTMPMessage, at seconds: Double) {
        lastInput = now
        report.bytes += message.payload.readableBytes
        arrivals.append((now, message.payload.readableBytes))
        switch message.type {
        case .commandAMF0, .commandAMF3:
            if let command = try? RTMPCommand.decode(message) { handle(command) }
        case .dataAMF0, .dataAMF3:
            if let values = try? RTMPCommand.decodeValues(message), values.first?.stringValue == "onPlayStatus",
               let info = values.dropFirst().first?.objectValue, let code = info["code"]?.stringValue {
                status(code, info)
            }
        case .audio, .video:
            media(message)
        default:
            break
        }
    }

    private mutating func handle(_ command: RTMPCommand) {
        switch command.name {
        case "_result" where command.transactionID == 1:
            report.connectSeconds = now
            say("connect: \(command.arguments.first?["code"]?.stringValue ?? "?") (\(command.commandObject["fmsVer"]?.stringValue ?? "?"))")
            if options.checkBandwidth {
                client.send(RTMPCommand(name: "checkBandwidth", transactionID: 0))
            } else {
                client.send(RTMPCommand(name: "createStream", transactionID: 2))
            }
        case "_error" where command.transactionID == 1:
            fail("connect refused: \(command.arguments.first?["code"]?.stringValue ?? "?") \(command.arguments.first?["description"]?.stringValue ?? "")")
        case "onBWCheck", "_onbwcheck":
            client.send(RTMPCommand(name: "_result", transactionID: command.transactionID, arguments: [.number(command.transactionID)]))
        case "onBWDone", "_onbwdone":
            let figures = command.arguments.compactMap(\.doubleValue)
            guard let kilobits = figures.first else { return }
            report.bandwidthKilobits = kilobits
            report.latencyMilliseconds = figures.count > 3 ? figures[3] : nil
            say("bandwidth: \(Int(kilobits)) kbit/s, latency \(Int(report.latencyMilliseconds ?? 0)) ms")
            client.send(RTMPCommand(name: "createStream", transactionID: 2))
        case "_result" where command.transactionID == 2:
            guard let id = command.arguments.first?.doubleValue.flatMap({ UInt32(exactly: $0) }) else { return fail("createStream gave no stream") }
            streamID = id
            if let ladder = options.ladder {
                if options.abr {
                    abr = ABRController(ladder: ladder, bandwidth: report.bandwidthKilobits, bufferTarget: Double(options.bufferMilliseconds) / 1000)
                    playing = ladder.rungs[abr!.current].stream
                } else if options.switchEvery != nil {
                    playing = ladder.rungs[0].stream
                    walk = Array(1..<ladder.rungs.count) + Array((0..<(ladder.rungs.count - 1)).reversed())
                }
            }
            client.send(ProtocolControl.userControl(.setBufferLength(streamID: id, milliseconds: options.bufferMilliseconds)))
            client.send(RTMPCommand(name: "play", transactionID: 0, arguments: [.string(playing), .number(0), .number(-1)]), streamID: id)
            report.renditions.append(playing)
            say("play \(playing)")
        case "onStatus":
            let info = command.arguments.first?.objectValue ?? AMFObject()
            status(info["code"]?.stringValue ?? "?", info)
        default:
            break
        }
    }

    private mutating func status(_ code: String, _ info: AMFObject) {
        let description = info["description"]?.stringValue
        report.statuses.append(.init(seconds: now, code: code, description: description))
        say(code + (description.map { " (\($0))" } ?? ""))
        switch code {
        case "NetStream.Play.StreamNotFound", "NetStream.Play.Failed", "NetStream.Failed", "NetConnection.Connect.Rejected":
            if pendingSwitch != nil, code != "NetConnection.Connect.Rejected" {
                // A refused switch is the server's answer, not a failure: the old rendition plays on.
                report.switches[report.switches.count - 1].refused = code + (description.map { ": \($0)" } ?? "")
                pendingSwitch = nil
            } else {
                fail(code + (description.map { ": \($0)" } ?? ""))
            }
        case "NetStream.Play.TransitionComplete":
            if let pending = pendingSwitch, let ladder = options.ladder {
                let index = report.switches.count - 1
                if index >= 0 { report.switches[index].wallSeconds = now - pending.sentAt }
                playing = ladder.rungs[pending.index].stream
                report.renditions.append(playing)
                pendingSwitch?.completed = true
            }
        case "NetStream.Play.Stop":
            say("done: \(report.bytes) bytes, media time \(Double(report.mediaTime) / 1000) s, largest video gap \(report.largestVideoGap) ms")
            isFinished = true
        default:
            break
        }
    }

    private mutating func media(_ message: RTMPMessage) {
        let bytes = message.payload.readableBytesView
        let isVideo = message.type == .video
        // Sequence headers and end-of-sequence tags are not frames.
        if bytes.count >= 2, bytes[bytes.startIndex + 1] != 1, isVideo ? (bytes[bytes.startIndex] & 0x0F == 7) : (bytes[bytes.startIndex] >> 4 == 10) {
            if isVideo, bytes[bytes.startIndex + 1] == 0, pendingSwitch != nil { sawSequenceHeader = true }
            return
        }
        let time = message.timestamp
        if report.firstFrameSeconds == nil, isVideo || options.ladder == nil {
            report.firstFrameSeconds = now
            playStartedAt = now
            playhead = Double(time) / 1000
            lastTick = now
            say("first frame at media time \(time) ms")
        }
        if isVideo {
            report.videoFrames += 1
            if let last = lastVideo {
                if time < last { report.timelineErrors += 1 } else { report.largestVideoGap = max(report.largestVideoGap, time - last) }
            }
            lastVideo = time
            if let pending = pendingSwitch, pending.completed {
                // The new rendition starts with its sequence headers, then a keyframe.
                if bytes.first.map({ $0 >> 4 != 1 }) ?? true { report.errors.append("the first frame after a switch at \(time) ms is not a keyframe") }
                if !sawSequenceHeader { report.errors.append("no sequence header before the first frame after a switch at \(time) ms") }
                sawSequenceHeader = false
                report.switches[report.switches.count - 1].firstFrame = time
                report.switches[report.switches.count - 1].mediaWait = time > pending.mediaAt ? time - pending.mediaAt : 0
                pendingSwitch = nil
            }
        } else {
            report.audioFrames += 1
            if let last = lastAudio, time <= last { report.timelineErrors += 1 }
            lastAudio = time
        }
        report.mediaTime = max(report.mediaTime, time)
    }

    mutating func tick() {
        let now = self.now
        if now - lastInput > options.silenceTimeout {
            return fail("nothing from the server for \(Int(options.silenceTimeout)) s")
        }
        guard let playStartedAt else { return }
        // The playhead a player would have: it advances in real time, and waits when the
        // media it holds runs out.
        playhead += now - lastTick
        lastTick = now
        let held = Double(report.mediaTime) / 1000
        if playhead > held {
            report.stallSeconds += playhead - held
            playhead = held
        }
        let playedFor = now - playStartedAt
        if let duration = options.duration, playedFor >= duration {
            say("stopping after \(Int(duration)) s: \(report.bytes) bytes, media time \(Double(report.mediaTime) / 1000) s")
            isFinished = true
            return
        }
        arrivals.removeAll { $0.seconds < now - 2 }
        let throughput = Double(arrivals.reduce(0) { $0 + $1.bytes }) * 8 / 1000 / 2
        guard pendingSwitch == nil, let ladder = options.ladder else { return }
        if var controller = abr {
            for decision in controller.tick(now: playedFor, buffer: held - playhead, throughput: throughput, bytes: report.bytes) {
                switch decision {
                case .setBuffer(let milliseconds):
                    client.send(ProtocolControl.userControl(.setBufferLength(streamID: streamID, milliseconds: milliseconds)))
                case .switchTo(let rung):
                    switchTo(rung, ladder: ladder, reason: "throughput \(Int(controller.lastProbeKilobits ?? throughput)) kbit/s, buffer \(String(format: "%.1f", held - playhead)) s")
                }
            }
            abr = controller
        } else if let every = options.switchEvery, !walk.isEmpty, playedFor - lastScheduledSwitch >= every {
            lastScheduledSwitch = playedFor
            var next = walk.removeFirst()
            walk.append(next)
            if ladder.rungs[next].stream == playing {  // a refused switch left us here: go on down or up
                next = walk.removeFirst()
                walk.append(next)
            }
            switchTo(next, ladder: ladder, reason: "every \(every) s")
        }
    }

    private mutating func switchTo(_ index: Int, ladder: Ladder, reason: String) {
        let target = ladder.rungs[index].stream
        guard target != playing else { return }
        // A fast switch asks for the new rendition from a second past what has arrived:
        // what the server has sent is ahead of that by what is still on the way.
        let offset: UInt32? = self.options.fastSwitch ? report.mediaTime + 1000 : nil
        pendingSwitch = (index, now, offset ?? report.mediaTime, false)
        sawSequenceHeader = false
        report.switches.append(.init(seconds: now, from: playing, to: target, offset: offset))
        say("play2 switch \(playing) → \(target) (\(reason)" + (offset.map { ", offset \($0) ms)" } ?? ")"))
        let options: AMFObject = ["streamName": .string(target), "oldStreamName": .string(playing), "transition": "switch",
                                  "start": -2, "len": -1, "offset": .number(offset.map { Double($0) / 1000 } ?? -1)]
        client.send(RTMPCommand(name: "play2", transactionID: 0, arguments: [.object(options)]), streamID: streamID)
    }
}
