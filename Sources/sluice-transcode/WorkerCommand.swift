import ArgumentParser
import Foundation
import SluiceCommandLine
import SluiceJobs
import SluiceMedia
import SluiceTranscode
import Synchronization

/// One job's encode for the runner: probe, plan, encode, manifests, reported as
/// `WorkerMessage` lines on standard output. Standard input reaching EOF (the runner
/// cancelled the job, stopped, or died) stops the encode at its next packet.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Encode one job for the job runner (started by sluice; not for people).",
        shouldDisplay: false
    )

    @Argument var input: String
    @Option var preset: String
    @Option var presetsDir: String
    @Option var folder: String
    @Option var asset: String
    @Option var baseURL: String
    @Option var streamPrefix: String

    func run() throws {
        // Ctrl-C on the runner's terminal reaches this process too; the runner decides
        // (it closes standard input). SIGTERM sent to the encoder itself stops it.
        signal(SIGINT, SIG_IGN)
        StopSignal.install([SIGTERM])
        let stopped = Atomic<Bool>(false)
        let watcher = Thread {
            var byte: UInt8 = 0
            while true {
                let count = read(STDIN_FILENO, &byte, 1)
                if count == 0 || (count < 0 && errno != EINTR) { break }
            }
            stopped.store(true, ordering: .relaxed)
        }
        watcher.start()

        let outcome: WorkerMessage
        do throws(TranscodeError) {
            let chosen: Preset
            do {
                chosen = try PresetLibrary(folder: presetsDir).preset(preset)
            } catch {
                throw TranscodeError("\(error)")
            }
            let source = try SourceProbe.probe(input)
            let ladder = try LadderPlanner.plan(chosen, for: source)
            send(.planned(rungs: ladder.rungs.count))
            let transcoder = Transcoder(ladder: ladder, folder: folder)
            transcoder.isCancelled = { stopped.load(ordering: .relaxed) || StopSignal.received != 0 }
            transcoder.progress = { send(.progress(fraction: $0.fraction, framesPerSecond: $0.framesPerSecond)) }
            let result = try transcoder.run()
            let manifests = try Manifests.write(result, asset: asset, folder: folder, baseURL: baseURL, streamPrefix: streamPrefix)
            let renditions = result.renditions.flatMap { [$0.path] + ($0.mp4Path.map { [$0] } ?? []) }
            outcome = .done(renditions: renditions, manifests: manifests)
        } catch where StopSignal.received != 0 {
            outcome = .failed(reason: "the encoder was stopped (SIGTERM)", transient: true)
        } catch {
            outcome = .failed(reason: error.description, transient: error.isTransient)
        }
        send(outcome)
    }
}

/// A lost report is no worse than a runner that went away: nothing to do when it fails.
private func send(_ message: WorkerMessage) {
    _ = message.line.withUnsafeBytes { POSIXFile.writeAll(STDOUT_FILENO, $0) }
}
