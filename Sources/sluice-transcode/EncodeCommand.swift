import ArgumentParser
import Foundation
import SluiceCommandLine
import SluiceJobs
import SluiceTranscode

struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode media files into a ladder of FLV renditions with manifests.",
        discussion: """
            Each INPUT becomes OUT/ASSET/ (ASSET is the file name without its extension):
            one RUNG.flv per rendition, ASSET.f4m, ASSET.smil and ASSET.json. Renditions
            appear only when the whole input succeeded; the input is never modified. A
            progress bar shows on a terminal; plain log lines otherwise; --json prints one
            JSON object per input on standard output. Exits non-zero if any input failed.

              sluice encode talk.mp4 --preset dynamic-streaming --out encoded
              sluice presets explain dynamic-streaming --input talk.mp4  # plan first
            """
    )

    @Argument(help: "Media files to encode.")
    var inputs: [String]

    @Option(name: .long, help: "A preset name or preset file.")
    var preset: String = "dynamic-streaming"

    @Option(name: .long, help: "The folder that receives one folder per input.")
    var out: String = "encoded"

    @Option(name: .long, help: "The RTMP base URL the manifests point players at (default: public-url of --data, else rtmp://HOSTNAME:1935/cfx/st).")
    var baseURL: String?

    @OptionGroup var data: DataLocation

    @Flag(name: .long, help: "Print results as JSON lines.")
    var json = false

    @Flag(name: .long, help: "Leave files of an earlier encode of the same asset in its folder (by default a new encode replaces them).")
    var keepOld = false

    @OptionGroup var location: PresetsCommand.Location

    func run() throws {
        let chosen: Preset
        do {
            chosen = try location.library().preset(preset)
        } catch let error as PresetError {
            throw CommandFailure(error.description)
        }
        // Only a data folder named on purpose is read: a stray ./sluice-data must not
        // change what an encode writes.
        let publicURL = try data.isNamed ? data.publicURL(override: baseURL)
            : baseURL.map { PublicURL(url: try PublicURL.parse($0, source: "--base-url"), guessed: false) } ?? PublicURL.resolve(Settings())
        if publicURL.guessed { FileHandle.standardError.write(Data("\(publicURL.notice)\n".utf8)) }
        StopSignal.install()
        let outExisted = FileManager.default.fileExists(atPath: out)
        var failures = 0
        let reporter = ProgressReporter(json: json)
        for input in inputs where StopSignal.received == 0 {
            let asset = AssetName.from(input)
            let folder = (out as NSString).appendingPathComponent(asset)
            let existed = FileManager.default.fileExists(atPath: folder)
            do throws(TranscodeError) {
                let source = try SourceProbe.probe(input)
                let ladder = try LadderPlanner.plan(chosen, for: source)
                reporter.begin(input: input, ladder: ladder)
                let transcoder = Transcoder(ladder: ladder, folder: folder)
                transcoder.isCancelled = { StopSignal.received != 0 }
                transcoder.progress = { reporter.update(input: input, $0) }
                let result = try transcoder.run()
                let manifests = try Manifests.write(result, asset: asset, folder: folder, baseURL: publicURL.url, streamPrefix: asset)
                if !keepOld {
                    let written = result.renditions.flatMap { [$0.path] + ($0.mp4Path.map { [$0] } ?? []) } + manifests
                    for stale in AssetFolder.removeStale(folder, keeping: written) {
                        reporter.removed(input: input, path: stale)
                    }
                }
                reporter.done(input: input, result: result, manifests: manifests)
            } catch {
                failures += 1
                if !existed { try? FileManager.default.removeItem(atPath: folder) }
                guard StopSignal.received == 0 else { break }
                reporter.failed(input: input, reason: error.description)
            }
        }
        if StopSignal.received != 0 {
            // Ctrl-C or SIGTERM: the encode in progress stopped at its next packet and
            // removed its partial outputs; inputs not started are left alone.
            if !outExisted, (try? FileManager.default.contentsOfDirectory(atPath: out))?.isEmpty == true {
                try? FileManager.default.removeItem(atPath: out)
            }
            reporter.stopped(signal: StopSignal.received)
            throw ExitCode(StopSignal.exitStatus)
        }
        if failures > 0 { throw ExitCode(1) }
    }
}

/// A progress bar on a terminal, log lines otherwise, JSON lines with --json.
final class ProgressReporter {
    let json: Bool
    let terminal = isatty(STDERR_FILENO) == 1
    private var lastLoggedTenth = -1

    init(json: Bool) {
        self.json = json
    }

    private func standardError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    func begin(input: String, ladder: Ladder) {
        lastLoggedTenth = -1
        guard !json else { return }
        let rungs = ladder.rungs.map { $0.hasVideo ? "\($0.name) \($0.width)x\($0.height) \($0.totalBitrate)k" : "\($0.name) \($0.totalBitrate)k" }
        standardError("encoding \(input) with \(ladder.preset.name): \(rungs.joined(separator: ", "))\n")
    }

    func update(input: String, _ progress: EncodeProgress) {
        guard !json else { return }
        let percent = Int(progress.fraction * 100)
        let eta = progress.remaining.map { String(format: "%d:%02d", Int($0) / 60, Int($0) % 60) } ?? "--:--"
        if terminal {
            let width = 30
            let filled = Int(progress.fraction * Double(width))
            let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: max(0, width - filled - 1))
            standardError(String(format: "\r[%@] %3d%%  %5.0f fps  ETA %@  ", bar, percent, progress.framesPerSecond, eta))
        } else if percent / 10 > lastLoggedTenth {
            lastLoggedTenth = percent / 10
            standardError(String(format: "%@: %d%% (%.0f fps, ETA %@)\n", input, percent, progress.framesPerSecond, eta))
        }
    }

    func done(input: String, result: EncodeResult, manifests: [String]) {
        if json {
            let object: [String: Any] = [
                "input": input, "status": "done", "seconds": result.seconds,
                "renditions": result.renditions.map { ["rung": $0.rung.name, "path": $0.path, "bytes": $0.summary.fileSize, "mp4": ($0.mp4Path as Any?) ?? NSNull()] as [String: Any] },
                "manifests": manifests,
            ]
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        if terminal { standardError("\n") }
        standardError(String(format: "%@: done in %.1f s\n", input, result.seconds))
        for rendition in result.renditions {
            standardError("  \(rendition.path) (\(rendition.summary.fileSize) bytes, \(rendition.summary.keyframeTimes.count) keyframes)\n")
            if let mp4 = rendition.mp4Path { standardError("  \(mp4)\n") }
        }
        for manifest in manifests { standardError("  \(manifest)\n") }
    }

    func removed(input: String, path: String) {
        guard !json else { return }
        standardError("  removed \(path) (from an earlier encode; --keep-old keeps such files)\n")
    }

    func stopped(signal: Int32) {
        if terminal { standardError("\n") }
        standardError("sluice: stopped by \(signal == SIGTERM ? "SIGTERM" : "Ctrl-C"); partial outputs removed\n")
    }

    func failed(input: String, reason: String) {
        if json {
            if let data = try? JSONSerialization.data(withJSONObject: ["input": input, "status": "failed", "reason": reason], options: [.sortedKeys]) {
                print(String(decoding: data, as: UTF8.self))
            }
        }
        if terminal { standardError("\n") }
        standardError("sluice: \(input): \(reason)\n")
    }
}

/// An asset's output folder holds one version: after an encode, files an earlier one
/// left (a rung the new ladder dropped) go, so the folder never mixes versions.
enum AssetFolder {
    /// What an encode writes; anything else in the folder is not ours to remove.
    static let extensions: Set<String> = ["flv", "mp4", "f4m", "smil", "json"]

    /// Removes the folder's media and manifest files not in `keeping`; returns them.
    static func removeStale(_ folder: String, keeping: [String]) -> [String] {
        let kept = Set(keeping.map { ($0 as NSString).lastPathComponent })
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var removed: [String] = []
        for name in names.sorted() where !name.hasPrefix(".") && !kept.contains(name)
            && extensions.contains((name as NSString).pathExtension.lowercased()) {
            let path = folder + "/" + name
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(path) }
        }
        return removed
    }
}
