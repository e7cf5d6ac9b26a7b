import Foundation

/// Where presets live when no folder is named: the runner resolves it once and hands it
/// to every encoder process, and `sluice-transcode` resolves it the same way.
public enum PresetsFolder {
    public static func locate(_ flag: String?) throws(JobError) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let environment = ProcessInfo.processInfo.environment["SLUICE_PRESETS"], !environment.isEmpty { return environment }
        let manager = FileManager.default
        if manager.fileExists(atPath: "presets") { return URL(fileURLWithPath: "presets").standardizedFileURL.path }
        // A build inside the checkout: .build/<configuration>/sluice → presets/.
        var folder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            folder = folder.deletingLastPathComponent()
            let candidate = folder.appendingPathComponent("presets").path
            if manager.fileExists(atPath: candidate + "/dynamic-streaming.yml") { return candidate }
        }
        throw JobError("cannot find the presets folder: pass --presets-dir or set SLUICE_PRESETS")
    }
}
