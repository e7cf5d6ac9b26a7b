import ArgumentParser
import Foundation
import SluiceRTMP

/// `sluice probe`: an operator's test player.
struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Play an RTMP stream as a Flash player would and print what happened.",
        discussion: """
            Connects with Flash Player 10's digest handshake, runs the server's bandwidth
            check, plays, and prints a timeline: connect and first-frame times, statuses,
            switches, bytes, the media time reached and the largest gap between frames.

            With the ladder manifest the encoder published beside the renditions (.json,
            .smil or .f4m), it switches renditions with play2: --abr as a dynamic-streaming
            player would (starting on the rung the measured bandwidth carries, down when
            its buffer runs low, up when the link has room), or --switch-every to walk the
            whole ladder down and up. --throttle reads slower, to play a slower link.

            Examples:
              sluice probe rtmp://127.0.0.1/cfx/st/sample.flv
              sluice probe rtmp://127.0.0.1/cfx/st/talks/keynote/720p --manifest keynote.json --abr \\
                  --throttle 3000,@20:500,@40:3000 --duration 60

            Exit status 0 when playback started and nothing went wrong; 1 otherwise.
            """
    )

    @Argument(help: "rtmp://HOST[:PORT]/APP/PLAYPATH (APP is cfx/st for CloudFront-style URLs).")
    var url: String

    @Option(name: .long, help: "The ladder's manifest (.json, .smil or .f4m): its playpaths replace the URL's.")
    var manifest: String?

    @Flag(name: .long, help: "Switch renditions as a dynamic-streaming player would (needs --manifest).")
    var abr = false

    @Option(name: .long, help: "Switch to the next rung every SECONDS, down the ladder and back up (needs --manifest).")
    var switchEvery: Double?

    @Flag(name: .long, help: "Switch fast: play2 with an offset just past what has arrived (with --switch-every or --abr).")
    var fastSwitch = false

    @Option(name: .long, help: "Read at KBPS kbit/s, then other rates from given seconds: 3000,@20:500,@40:3000.")
    var throttle: String?

    @Option(name: .long, help: "Stop after SECONDS of playback (default: play to the end).")
    var duration: Double?

    @Option(name: .long, help: "The buffer the player asks for, in seconds.")
    var buffer: Double = 4

    @Flag(name: .long, help: "Skip the bandwidth check.")
    var noBandwidthCheck = false

    @Flag(name: .long, help: "Use the simple handshake (no digest), as rtmpdump does by default.")
    var simpleHandshake = false

    @Flag(name: .long, help: "Print the report as JSON on standard output (the timeline goes to standard error).")
    var json = false

    func validate() throws {
        if (abr || switchEvery != nil) && manifest == nil { throw ValidationError("--abr and --switch-every need --manifest") }
        if abr && switchEvery != nil { throw ValidationError("choose one of --abr and --switch-every") }
        if let switchEvery, !(switchEvery.isFinite && switchEvery > 0) { throw ValidationError("--switch-every takes a positive number of seconds") }
        if let throttle, ReadThrottle(throttle) == nil { throw ValidationError("--throttle takes KBPS[,@SECONDS:KBPS...], for example 3000,@20:500") }
        if !(buffer.isFinite && buffer > 0 && buffer <= 3600) { throw ValidationError("--buffer takes seconds, up to 3600") }
    }

    func run() async throws {
        guard var options = ProbeOptions(url: url) else {
            throw ValidationError("\(url) is not rtmp://HOST[:PORT]/APP/PLAYPATH")
        }
        if let manifest { options.ladder = try Ladder.load(path: manifest) }
        options.abr = abr
        options.switchEvery = switchEvery
        options.fastSwitch = fastSwitch
        options.throttle = throttle.flatMap(ReadThrottle.init)
        options.duration = duration
        options.bufferMilliseconds = UInt32(buffer * 1000)
        options.checkBandwidth = !noBandwidthCheck
        options.digestHandshake = !simpleHandshake
        let toStandardError = json
        let report = await Probe.run(options) { text in
            if toStandardError {
                FileHandle.standardError.write(Data((text + "\n").utf8))
            } else {
                print(text)
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        }
        if !report.succeeded { throw ExitCode(1) }
    }
}
