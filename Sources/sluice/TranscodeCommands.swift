import ArgumentParser
import Foundation
import SluiceCommandLine
import SluiceJobs

/// `sluice encode` and `sluice presets` live in `sluice-transcode`, the only executable
/// that links libav; these hand the command line over to it unchanged (exec, so its exit
/// status, progress bar and help are the command's own).
enum TranscodeHandOver {
    static func exec(_ arguments: [String]) throws -> Never {
        guard let executable = TranscodeWorker.locate() else {
            throw CommandFailure("sluice-transcode is not installed beside sluice: build it with `swift build --product sluice-transcode`")
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        StopSignal.unblockAll()
        execv(executable, argv)
        throw CommandFailure("cannot start \(executable): \(String(cString: strerror(errno)))")
    }
}

struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode media files into a ladder of FLV renditions with manifests.",
        discussion: "See sluice encode --help for the options."
    )

    @Argument(parsing: .captureForPassthrough, help: "Media files and options (sluice encode --help).")
    var arguments: [String] = []

    func run() throws {
        try TranscodeHandOver.exec(["encode"] + arguments)
    }
}

struct PresetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "presets",
        abstract: "List encoding presets, and explain the ladder one would make for an input.",
        discussion: "See sluice presets --help for the subcommands."
    )

    @Argument(parsing: .captureForPassthrough, help: "A subcommand and its options (sluice presets --help).")
    var arguments: [String] = []

    func run() throws {
        try TranscodeHandOver.exec(["presets"] + arguments)
    }
}
