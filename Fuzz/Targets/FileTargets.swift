import SluiceJobs
import SluiceTranscode

/// The files people write: presets and job files.
enum FileTargets {
    static let preset = FuzzTarget(name: "preset", summary: "preset files (YAML)", seeds: FileSeeds.presets) { bytes in
        _ = try? Preset.parse(String(decoding: bytes, as: UTF8.self), file: "fuzz.yml")
    }

    static let jobFile = FuzzTarget(name: "job-file", summary: "job files (YAML); inputs name themselves, no file system",
                                    seeds: FileSeeds.jobFiles) { bytes in
        _ = try? JobFile.parse(String(decoding: bytes, as: UTF8.self), relativeTo: "/jobs", expand: { [$0] })
    }
}
