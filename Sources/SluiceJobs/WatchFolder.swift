import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Turns files dropped in a folder into jobs.
///
/// A file is taken once its size and modification time have not changed for the
/// stability window (a copy in progress keeps changing them); dot-files and folders are
/// ignored. Taking it means renaming it into `.sluice-processing/` first (atomic, same
/// file system), then queueing the job: a file is never taken twice, also across
/// restarts, and one the job table does not know is queued again on start. The job
/// moves it on to `done/` or `failed/`.
///
/// inotify says when to look; without it (some network file systems) the folder is
/// polled.
public final class WatchFolder: Sendable {
    public static let processingFolder = ".sluice-processing"

    public let folder: String
    let queue: JobQueue
    let template: JobSpec
    let stableFor: TimeInterval
    let pollInterval: TimeInterval
    let logger: Logger
    private let candidates = Mutex<[String: (size: Int64, modified: Double, since: Date)]>([:])
    private let stopping = Atomic<Bool>(false)

    /// `template` gives the preset, bucket, prefix, ACL, metadata and webhook of the jobs.
    public init(folder: String, queue: JobQueue, template: JobSpec, stableFor: TimeInterval = 2, pollInterval: TimeInterval = 1,
                logger: Logger) {
        self.folder = URL(fileURLWithPath: folder).standardizedFileURL.path
        self.queue = queue
        self.template = template
        self.stableFor = stableFor
        self.pollInterval = pollInterval
        self.logger = logger
    }

    public func start() throws {
        let manager = FileManager.default
        for sub in ["", "/done", "/failed", "/" + Self.processingFolder] {
            try manager.createDirectory(atPath: folder + sub, withIntermediateDirectories: true)
        }
        try recover()
        let thread = Thread { [self] in self.watch() }
        thread.name = "sluice-watch"
        thread.start()
        logger.info("watching \(folder) (files stable for \(stableFor) s become jobs; results in done/ and failed/)")
    }

    public func stop() { stopping.store(true, ordering: .relaxed) }

    /// Files in the processing folder that no job names (a crash between the rename and
    /// the insert) get their job now.
    func recover() throws {
        let processing = folder + "/" + Self.processingFolder
        let known = try queue.allInputs()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: processing)) ?? [] where !known.contains(processing + "/" + name) {
            let original = String(name.drop { $0 != "-" }.dropFirst())
            try submit(path: processing + "/" + name, originalName: original.isEmpty ? name : original)
            logger.notice("queued \(original) again: it was taken before a restart but had no job")
        }
    }

    private func watch() {
        let inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        var watching = false
        if inotify >= 0 {
            let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY | IN_ATTRIB)
            watching = inotify_add_watch(inotify, folder, mask) >= 0
        }
        if !watching { logger.notice("inotify is not available for \(folder); polling every \(pollInterval) s") }
        defer { if inotify >= 0 { close(inotify) } }
        var buffer = [UInt8](repeating: 0, count: 16384)
        while !stopping.load(ordering: .relaxed) {
            scan()
            // While a file settles, look again soon; otherwise wait for an event.
            let settling = candidates.withLock { !$0.isEmpty }
            let wait = settling ? min(0.1, stableFor / 4) : pollInterval
            if watching {
                var descriptor = pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)
                if poll(&descriptor, 1, Int32(wait * 1000)) > 0 {
                    while buffer.withUnsafeMutableBytes({ read(inotify, $0.baseAddress!, $0.count) }) > 0 {}
                }
            } else {
                Thread.sleep(forTimeInterval: wait)
            }
        }
    }

    /// One look at the folder: takes every file that has been stable long enough.
    /// Returns the jobs it queued.
    @discardableResult
    public func scan(now: Date = Date()) -> [Job] {
        let manager = FileManager.default
        let names = (try? manager.contentsOfDirectory(atPath: folder)) ?? []
        var seen = Set<String>()
        var taken: [Job] = []
        for name in names.sorted() where !name.hasPrefix(".") && name != "done" && name != "failed" {
            let path = folder + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            seen.insert(name)
            let size = Int64(info.st_size)
            let modified = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
            let ready: Bool = candidates.withLock { candidates in
                if let known = candidates[name], known.size == size, known.modified == modified {
                    return now.timeIntervalSince(known.since) >= stableFor
                }
                candidates[name] = (size, modified, now)
                return false
            }
            guard ready else { continue }
            candidates.withLock { _ = $0.removeValue(forKey: name) }
            do {
                if let job = try take(name) { taken.append(job) }
            } catch {
                logger.error("cannot queue \(path): \(error)")
            }
        }
        candidates.withLock { candidates in
            for name in candidates.keys where !seen.contains(name) { candidates.removeValue(forKey: name) }
        }
        return taken
    }

    private func take(_ name: String) throws -> Job? {
        let token = UUID().uuidString.prefix(8).lowercased()
        let destination = folder + "/" + Self.processingFolder + "/" + token + "-" + name
        guard rename(folder + "/" + name, destination) == 0 else {
            throw JobError("cannot move \(name) into \(Self.processingFolder): \(String(cString: strerror(errno)))")
        }
        do {
            return try submit(path: destination, originalName: name)
        } catch {
            // Put it back, so nothing is lost and the next scan tries again.
            rename(destination, folder + "/" + name)
            throw error
        }
    }

    @discardableResult
    private func submit(path: String, originalName: String) throws -> Job {
        var spec = template
        spec.input = path
        spec.originalName = originalName
        spec.watchFolder = folder
        spec.asset = AssetName.from(originalName)
        let job = try queue.submit(spec)
        logger.info("queued job \(job.id) for \(originalName) (stable for \(stableFor) s)")
        return job
    }

    /// `name`, or `name-2`, `name-3`… before the extension, whichever is free in `folder`.
    static func freeName(in folder: String, _ name: String) -> String {
        let manager = FileManager.default
        var candidate = folder + "/" + name
        var counter = 2
        let base = (name as NSString).deletingPathExtension
        let ext = (name as NSString).pathExtension
        while manager.fileExists(atPath: candidate) || manager.fileExists(atPath: candidate + ".error.txt") {
            candidate = folder + "/" + base + "-\(counter)" + (ext.isEmpty ? "" : "." + ext)
            counter += 1
        }
        return candidate
    }

    /// Before retrying a watched job whose source went to `failed/`: moves it back.
    public static func reclaim(_ job: Job) {
        guard let folder = job.spec.watchFolder, let name = job.spec.originalName,
              !FileManager.default.fileExists(atPath: job.spec.input) else { return }
        let failed = folder + "/failed/" + name
        if rename(failed, job.spec.input) == 0 { unlink(failed + ".error.txt") }
    }
}
