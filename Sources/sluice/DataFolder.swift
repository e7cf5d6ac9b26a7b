import Foundation
import Logging
import SluiceCommandLine
import SluiceJobs
import SluiceStore

/// The data folder: `buckets/NAME/` per bucket, and the optional `sluice.yml`.
struct DataFolder {
    let path: String

    init(_ path: String) {
        // Absolute, so log lines and the library never depend on the working directory.
        let url = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        self.path = url.standardizedFileURL.path
    }

    var bucketsPath: String { path + "/buckets" }

    func bucketPath(_ name: String) -> String { bucketsPath + "/" + name }

    /// Creates the folder and the default bucket on first start, with the sample clip in
    /// it so that a fresh install plays something straight away.
    func prepare(defaultBucket: String, addSample: Bool = true, logger: Logger) throws {
        let manager = FileManager.default
        let bucket = bucketPath(defaultBucket)
        guard addSample else {
            try manager.createDirectory(atPath: path, withIntermediateDirectories: true)
            return
        }
        let isNewBucket = !manager.fileExists(atPath: bucket)
        try manager.createDirectory(atPath: bucket, withIntermediateDirectories: true)
        guard isNewBucket else { return }
        logger.info("created data folder bucket '\(defaultBucket)' at \(bucket)")
        if let sample = Self.bundledSample() {
            try manager.copyItem(atPath: sample, toPath: bucket + "/sample.flv")
            logger.info("added sample clip: \(bucket)/sample.flv")
        } else {
            logger.warning("the sample clip is not installed beside the executable; put media files in \(bucket)")
        }
    }

    /// The sample clip shipped in the executable's resource bundle. Looked up by hand:
    /// `Bundle.module` stops the process when the bundle was not copied with the binary.
    static func bundledSample() -> String? {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let folder = executable.deletingLastPathComponent()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for entry in entries where entry.hasSuffix("_sluice.resources") || entry.hasSuffix("_sluice.bundle") {
            let candidate = folder.path + "/" + entry + "/sample.flv"
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        return nil
    }
}

extension DataLocation {
    /// The data folder, which must exist (see `existing()`).
    var folder: DataFolder {
        get throws { DataFolder(try existing()) }
    }

    func store() throws -> any ObjectStore {
        try StoreBackend.open(folder: try folder)
    }

    func queue() throws -> JobQueue {
        try JobQueue(dataFolder: try existing())
    }
}
