import ArgumentParser

/// The half of Sluice that links libav. `sluice encode` and `sluice presets` hand over to
/// it, and the job runner starts its `worker` once per job, so the server process never
/// maps FFmpeg's libraries and a crash inside them ends one encode, not the server.
@main
struct SluiceTranscodeMain: ParsableCommand {
    static let configuration = CommandConfiguration(
        // Its help speaks as `sluice`: people reach these commands through it.
        commandName: "sluice",
        abstract: "Encode media into rendition ladders (the libav half of sluice).",
        version: "0.1.0",
        subcommands: [EncodeCommand.self, PresetsCommand.self, WorkerCommand.self]
    )
}
