import ArgumentParser
import Foundation
import SluiceCommandLine
import SluiceJobs
import SluiceTranscode

struct PresetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "presets",
        abstract: "List encoding presets, and explain the ladder one would make for an input.",
        discussion: """
            Presets are YAML files (NAME.yml) in the presets folder: --presets-dir, else
            SLUICE_PRESETS, else ./presets, else the presets/ folder of Sluice's own
            checkout. A path (./my-ladder.yml) may stand wherever a preset name does.
            """,
        subcommands: [List.self, Explain.self]
    )

    struct Location: ParsableArguments {
        @Option(name: .long, help: "The folder of preset files.")
        var presetsDir: String?

        func library() throws -> PresetLibrary {
            do {
                return PresetLibrary(folder: try PresetsFolder.locate(presetsDir))
            } catch {
                throw CommandFailure(error.description)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the presets and their rungs.")

        @OptionGroup var location: Location

        func run() throws {
            let library = try location.library()
            let presets: [Preset]
            do {
                presets = try library.all()
            } catch {
                throw CommandFailure("\(error)")
            }
            for preset in presets {
                print("\(preset.name): \(preset.summary)")
                let rungs = preset.rungs.map { rung in
                    rung.height.map { "\(rung.name) (\($0) lines, \(LadderText.number(rung.tier)) kbit/s tier)" }
                        ?? "\(rung.name) (\((rung.audioCodec ?? preset.audio.codec).rawValue) \(LadderText.number(rung.audioBitrate)) kbit/s)"
                }
                print("  rungs: \(rungs.joined(separator: ", "))")
                print("  outputs: \(preset.outputs.map(\.rawValue).joined(separator: ", ")); keyframes every \(LadderText.number(preset.keyframeInterval)) s")
            }
        }
    }

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the ladder a preset would produce for an input, with the rule behind every number.")

        @Argument(help: "A preset name or a preset file.")
        var preset: String = "dynamic-streaming"

        @Option(name: .long, help: "The media file to plan for.")
        var input: String

        @Flag(name: .long, help: "Print JSON instead of text.")
        var json = false

        @OptionGroup var location: Location

        func run() throws {
            // Nothing to clean up: Ctrl-C ends it at once, with the status shells expect.
            StopSignal.install(exitAtOnce: true)
            let ladder: Ladder
            do {
                let chosen = try location.library().preset(preset)
                let source = try SourceProbe.probe(input)
                ladder = try LadderPlanner.plan(chosen, for: source)
            } catch let error as PresetError {
                throw CommandFailure(error.description)
            } catch let error as TranscodeError {
                throw CommandFailure(error.description)
            }
            if json {
                let data = try JSONSerialization.data(withJSONObject: LadderText.json(ladder), options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(LadderText.explain(ladder), terminator: "")
            }
        }
    }
}

/// Human and machine renderings of a ladder.
enum LadderText {
    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String((value * 100).rounded() / 100)
    }

    static func explain(_ ladder: Ladder) -> String {
        let source = ladder.source
        var text = "preset \(ladder.preset.name) for \(source.path)\n"
        var facts = ["\(number(source.duration)) s", source.container]
        if let video = source.video {
            facts.append("video \(video.codec) \(video.displayWidth)x\(video.displayHeight) at \(number(video.frameRate)) fps" + (video.rotation != 0 ? ", turned \(video.rotation)°" : ""))
        }
        if let audio = source.audio {
            facts.append("audio \(audio.codec) \(audio.sampleRate) Hz, \(audio.channels) channel\(audio.channels == 1 ? "" : "s")")
        }
        text += "source: \(facts.joined(separator: "; "))\n"
        if ladder.frameRate > 0 {
            text += "every rung: constant \(number(ladder.frameRate)) fps (or a whole fraction of it); keyframes every \(ladder.keyframeEvery) frames, at the same times in every rung\n"
        }
        text += "outputs: \(ladder.preset.outputs.map(\.rawValue).joined(separator: ", "))\n\n"
        let header = ["rung", "size", "fps", "video", "audio", "total", "profile"]
        var rows = [header]
        for rung in ladder.rungs {
            rows.append([
                rung.name, rung.hasVideo ? "\(rung.width)x\(rung.height)" : "-", rung.hasVideo ? number(rung.frameRate) : "-",
                rung.hasVideo ? "\(rung.videoBitrate)k" : "-", "\(rung.audioBitrate)k \(rung.audioCodec.rawValue)",
                "\(rung.totalBitrate)k", rung.hasVideo ? "\(rung.profile) \(rung.level)" : "-",
            ])
        }
        let widths = (0..<header.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            text += row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces) + "\n"
        }
        text += "\n"
        for rung in ladder.rungs {
            text += "\(rung.name):\n"
            for reason in rung.reasons { text += "  \(reason.field): \(reason.rule)\n" }
        }
        for drop in ladder.dropped { text += "\(drop.name): dropped: \(drop.reason)\n" }
        return text
    }

    static func json(_ ladder: Ladder) -> [String: Any] {
        [
            "preset": ladder.preset.name,
            "input": ladder.source.path,
            "frameRate": ladder.frameRate,
            "keyframeEvery": ladder.keyframeEvery,
            "outputs": ladder.preset.outputs.map(\.rawValue),
            "rungs": ladder.rungs.map { rung -> [String: Any] in
                [
                    "name": rung.name, "width": rung.width, "height": rung.height, "frameRate": rung.frameRate,
                    "videoBitrate": rung.videoBitrate, "audioBitrate": rung.audioBitrate, "audioCodec": rung.audioCodec.rawValue,
                    "profile": rung.profile, "level": rung.level, "gopFrames": rung.gopFrames,
                    "reasons": Dictionary(rung.reasons.map { ($0.field, $0.rule) }, uniquingKeysWith: { first, _ in first }),
                ]
            },
            "dropped": ladder.dropped.map { ["name": $0.name, "reason": $0.reason] },
        ]
    }
}
