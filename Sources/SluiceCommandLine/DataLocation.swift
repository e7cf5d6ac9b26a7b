import ArgumentParser
import Foundation

/// `--data`, shared by every command that works on a data folder: the flag, else
/// `SLUICE_DATA`, else `./sluice-data`, made absolute so log lines and stored paths never
/// depend on the working directory.
public struct DataLocation: ParsableArguments {
    @Option(name: .long, help: "The data folder (also SLUICE_DATA; default ./sluice-data).")
    public var data: String?

    public init() {}

    /// True when the folder was named (`--data` or `SLUICE_DATA`), not the default.
    public var isNamed: Bool {
        data != nil || !(ProcessInfo.processInfo.environment["SLUICE_DATA"] ?? "").isEmpty
    }

    /// The base URL for manifests: `override` (a `--base-url` flag) when given, else the
    /// folder's `public-url`, else a guess from the host name and `rtmp.port`.
    public func publicURL(override: String?) throws -> PublicURL {
        do {
            if let override { return PublicURL(url: try PublicURL.parse(override, source: "--base-url"), guessed: false) }
            return try PublicURL.resolve(try settings())
        } catch let problem as Settings.Problem {
            throw CommandFailure(problem.description)
        }
    }

    /// The folder named, whether or not it exists.
    public var path: String {
        let named = data ?? ProcessInfo.processInfo.environment["SLUICE_DATA"].flatMap { $0.isEmpty ? nil : $0 } ?? "./sluice-data"
        let url = URL(fileURLWithPath: named, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        return url.standardizedFileURL.path
    }

    /// The folder, which must exist: only `sluice serve` creates one (on its first
    /// start), so a mistyped `--data` is an error instead of a new empty store.
    public func existing() throws -> String {
        let path = path
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw CommandFailure("the data folder \(path) does not exist (`sluice serve --data \(path)` creates it; or pass the right --data)")
        }
        guard isFolder.boolValue else { throw CommandFailure("the data folder \(path) is not a folder") }
        return path
    }

    /// The settings of the folder (`sluice.yml`, then `SLUICE_*` variables).
    public func settings() throws -> Settings {
        do {
            return try Settings.load(dataFolder: try existing())
        } catch let problem as Settings.Problem {
            throw CommandFailure(problem.description)
        }
    }
}
