import ArgumentParser

@main
struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Media preparation and origin server: RTMP video on demand from buckets.",
        discussion: """
            Everything Sluice owns lives in one data folder (--data, default
            ./sluice-data): buckets, their media, and an optional sluice.yml. Settings
            come from flags, then SLUICE_* environment variables, then sluice.yml, then
            defaults.
            """,
        version: "0.1.0",
        subcommands: [Serve.self, EncodeCommand.self, WatchCommand.self, JobsCommand.self, PresetsCommand.self, BucketCommand.self, UserCommand.self, DistributionCommand.self,
                      ProbeCommand.self]
    )
}
