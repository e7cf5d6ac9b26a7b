import Foundation
import Logging
import Metrics
import SluiceStore
import Synchronization

public struct JobRunnerConfiguration: Sendable {
    /// Jobs encoded at once. Each encode already uses every core, so 1 is usually right.
    public var concurrency = 1
    /// Where jobs encode before publishing: `DATA/work/job-ID/`.
    public var workFolder: String
    /// The RTMP base URL the manifests point players at.
    public var baseURL = "rtmp://127.0.0.1:1935/cfx/st"
    /// First retry delay after a transient failure; doubles each attempt, at most 10 min.
    public var retryDelay: TimeInterval = 30
    /// How often an idle slot looks for due jobs queued by other processes or due for a
    /// retry (a job queued in this process wakes a slot at once).
    public var pollInterval: TimeInterval = 0.2
    /// The folder of preset files the encoder reads.
    public var presetsFolder: String
    /// The encoder executable (`sluice-transcode`), started once per job.
    public var transcoder: String

    public init(workFolder: String, presetsFolder: String, transcoder: String) {
        self.workFolder = workFolder
        self.presetsFolder = presetsFolder
        self.transcoder = transcoder
    }

    /// Finds the presets (see `PresetsFolder`) and the encoder installed beside this
    /// executable, so that a missing piece stops the command at start, not each job.
    public static func located(workFolder: String, presetsDir: String?) throws(JobError) -> JobRunnerConfiguration {
        let presets = try PresetsFolder.locate(presetsDir)
        guard let transcoder = TranscodeWorker.locate() else {
            throw JobError("cannot find sluice-transcode, the encoder, beside sluice or on PATH (swift build --product sluice-transcode)")
        }
        return JobRunnerConfiguration(workFolder: workFolder, presetsFolder: presets, transcoder: transcoder)
    }
}

/// Runs queued jobs: probe, plan, encode into a work folder (in an encoder process of its
/// own, see `TranscodeWorker`), publish into the store, then move a watched source to
/// `done/` or `failed/`. Crash-safe by construction: the
/// queue row says what is running, work folders are thrown away on restart, and
/// publishing writes each key atomically, so a rerun replaces rather than duplicates.
public final class JobRunner: Sendable {
    let queue: JobQueue
    let store: any ObjectStore
    let configuration: JobRunnerConfiguration
    let logger: Logger
    public let notifier: WebhookNotifier
    private let stopping = Atomic<Bool>(false)
    private let idleSlots = Atomic<Int>(0)
    /// Entered by each slot thread for its lifetime, so `stop` can wait for them.
    private let slots = DispatchGroup()

    public init(queue: JobQueue, store: any ObjectStore, configuration: JobRunnerConfiguration, logger: Logger) {
        self.queue = queue
        self.store = store
        self.configuration = configuration
        self.logger = logger
        notifier = WebhookNotifier(logger: logger)
    }

    /// Requeues what a previous run left running and clears its work folders, then
    /// starts the slots.
    public func start() throws {
        for job in try queue.requeueInterrupted() {
            logger.notice("job \(job.id): was \(job.state.rawValue) when the runner stopped; requeued")
        }
        try? FileManager.default.removeItem(atPath: configuration.workFolder)
        try FileManager.default.createDirectory(atPath: configuration.workFolder, withIntermediateDirectories: true)
        for slot in 0..<max(1, configuration.concurrency) {
            slots.enter()
            let thread = Thread { [self] in
                self.loop()
                self.slots.leave()
            }
            thread.name = "sluice-job-\(slot)"
            thread.stackSize = 8 << 20
            thread.start()
        }
        logger.info("job runner started: \(configuration.concurrency) at a time")
    }

    /// Stops taking jobs, and waits up to `timeout` seconds for the slots to end. A job
    /// mid-encode stops at its next packet and goes back to the queue without using up
    /// an attempt (a stop on purpose is not a failure); one mid-upload finishes it.
    @discardableResult
    public func stop(timeout: TimeInterval = 10) -> Bool {
        stopping.store(true, ordering: .relaxed)
        return slots.wait(timeout: .now() + timeout) == .success
    }

    /// True when no slot is working and nothing queued is due (for `sluice jobs run`).
    public var isIdle: Bool {
        idleSlots.load(ordering: .relaxed) == max(1, configuration.concurrency)
            && ((try? queue.list(states: [.queued]).contains { ($0.nextAttemptAt ?? .distantPast) <= Date() }) == false)
    }

    private func loop() {
        var idle = false
        while !stopping.load(ordering: .relaxed) {
            let job: Job?
            do {
                job = try queue.claimNext()
            } catch {
                logger.error("job queue: \(error)")
                job = nil
            }
            guard let job else {
                if !idle { idleSlots.add(1, ordering: .relaxed); idle = true }
                queue.waitForArrival(timeout: configuration.pollInterval)
                continue
            }
            if idle { idleSlots.subtract(1, ordering: .relaxed); idle = false }
            execute(job)
        }
    }

    // MARK: One job

    private enum Outcome {
        case done
        case permanent(String)
        case transient(String, storageFull: Bool)
        case stopped
    }

    func execute(_ job: Job) {
        let spec = job.spec
        logger.info("job \(job.id): \(spec.originalName ?? spec.input) → \(spec.bucket)/\(spec.keyPrefix)/ (preset \(spec.preset), attempt \(job.attempts))")
        let work = configuration.workFolder + "/job-\(job.id)"
        try? FileManager.default.removeItem(atPath: work)
        defer { try? FileManager.default.removeItem(atPath: work) }
        var outcome = run(job, work: work)
        if stopping.load(ordering: .relaxed) {
            switch outcome {
            case .stopped, .transient: outcome = .stopped
            case .done, .permanent: break
            }
        }
        switch outcome {
        case .done:
            guard let ended = try? queue.finish(job.id, state: .done) else { return }
            logger.info("job \(job.id): done, \(ended.published.count) object(s) under \(spec.bucket)/\(spec.keyPrefix)/")
            settleSource(ended, reason: nil)
            notifier.notify(ended)
        case .permanent(let reason):
            guard let ended = try? queue.finish(job.id, state: .failed, reason: reason) else {
                if (try? queue.state(job.id)) == .cancelled { cancelled(job) }
                return
            }
            logger.warning("job \(job.id): failed: \(reason)")
            settleSource(ended, reason: reason)
            notifier.notify(ended)
        case .transient(let reason, let storageFull):
            // A full disk is retried for as long as it takes; other transient failures
            // a few times with growing delays.
            let delay = min(600, configuration.retryDelay * pow(2, Double(max(0, job.attempts - 1))))
            if storageFull { try? queue.refundAttempt(job.id) }
            guard let after = try? queue.retryLater(job.id, reason: reason, delay: delay) else { return }
            if after.state == .failed {
                logger.warning("job \(job.id): failed: \(after.reason ?? reason)")
                settleSource(after, reason: after.reason ?? reason)
                notifier.notify(after)
            } else {
                logger.warning("job \(job.id): \(reason); retrying in \(Int(delay)) s")
            }
        case .stopped:
            if (try? queue.state(job.id)) == .cancelled {
                cancelled(job)
            } else if (try? queue.requeueStopped(job.id)) != nil {
                logger.notice("job \(job.id): stopped with the runner; queued again (the attempt is not counted)")
            }
        }
    }

    private func cancelled(_ job: Job) {
        logger.notice("job \(job.id): cancelled")
        if let ended = try? queue.job(job.id) {
            settleSource(ended, reason: "cancelled")
            notifier.notify(ended)
        }
    }

    private func run(_ job: Job, work: String) -> Outcome {
        let spec = job.spec
        guard FileManager.default.fileExists(atPath: spec.input) else {
            return .permanent("the input \(spec.input) does not exist")
        }
        guard let acl = ObjectACL(rawValue: spec.acl) else { return .permanent("'\(spec.acl)' is not an ACL (private or public-read)") }
        let folder = work + "/" + spec.asset
        let request = WorkerRequest(input: spec.input, preset: spec.preset, presetsFolder: configuration.presetsFolder, folder: folder,
                                    asset: spec.asset, baseURL: configuration.baseURL, streamPrefix: spec.keyPrefix)
        var lastCheck = Date.distantPast
        var movedOn = true
        var rungs = 0
        let encodeStarted = ContinuousClock.now
        let outcome = TranscodeWorker.run(configuration.transcoder, request, isCancelled: { [self] in
            if self.stopping.load(ordering: .relaxed) || !movedOn { return true }
            // The job row is read at most twice a second: cancellation comes from
            // another process (`sluice jobs cancel`).
            guard Date().timeIntervalSince(lastCheck) > 0.5 else { return false }
            lastCheck = Date()
            return (try? self.queue.state(job.id)) == .cancelled
        }, onMessage: { [self] message in
            switch message {
            case .planned(let count):
                rungs = count
                movedOn = (try? queue.advance(job.id, to: .encoding, detail: "\(count) rungs")) == true
            case .progress(let fraction, let framesPerSecond):
                try? queue.report(job.id, progress: fraction, detail: "\(rungs) rungs, \(Int(framesPerSecond)) fps")
            case .done, .failed:
                break
            }
        })
        let files: [String]
        switch outcome {
        case .cancelled:
            return .stopped
        case .failed(let reason, let transient):
            return transient ? .transient(reason, storageFull: true) : .permanent(readable(reason, spec))
        case .done(let renditions, let manifests):
            Metrics.Timer(label: "sluice_encode_seconds").record(duration: encodeStarted.duration(to: .now))
            // Renditions first, manifests last: a manifest never names a missing rendition.
            files = renditions + manifests
        }
        guard (try? queue.advance(job.id, to: .publishing, detail: "uploading")) == true else { return .stopped }
        if (try? store.bucketExists(spec.bucket)) == false {
            do {
                try store.createBucket(spec.bucket)
                logger.info("job \(job.id): created bucket \(spec.bucket)")
            } catch {
                let reason = "cannot create bucket \(spec.bucket): \(error.message)"
                return error.isTransient ? .transient(reason, storageFull: error.code == .storageFull) : .permanent(reason)
            }
        }

        var keys: [String] = []
        for (index, path) in files.enumerated() {
            let key = spec.keyPrefix + "/" + (path as NSString).lastPathComponent
            try? queue.report(job.id, progress: Double(index) / Double(files.count), detail: "uploading \(key)")
            do {
                try store.putObject(bucket: spec.bucket, key: key, file: path, acl: acl, metadata: spec.metadata)
            } catch {
                if error.code == .noSuchBucket || error.code == .invalidKey || error.code == .accessDenied {
                    return .permanent("cannot publish: \(error.message)")
                }
                return .transient("cannot publish \(key): \(error.message)", storageFull: error.code == .storageFull)
            }
            keys.append(key)
        }
        try? queue.recordPublished(job.id, keys: keys)
        if spec.keepOld != true { removeStale(job, keeping: Set(keys)) }
        return .done
    }

    /// Publishing replaces an asset as a whole: once every new object is in place,
    /// whatever the asset's folder held that this version does not (a rung the new
    /// ladder dropped, an MP4 beside an FLV that changed) goes. A play already reading a
    /// removed object finishes: it holds the file open. A failure here only warns; the
    /// new version is complete either way.
    private func removeStale(_ job: Job, keeping keys: Set<String>) {
        let spec = job.spec
        var stale: [String] = []
        var token: String?
        do {
            repeat {
                let page = try store.listObjects(bucket: spec.bucket, prefix: spec.keyPrefix + "/", delimiter: "/", continuationToken: token)
                stale += page.objects.map(\.key).filter { !keys.contains($0) }
                token = page.isTruncated ? page.nextContinuationToken : nil
            } while token != nil
            for key in stale { try store.deleteObject(bucket: spec.bucket, key: key) }
        } catch {
            logger.warning("job \(job.id): cannot remove the previous version's objects under \(spec.bucket)/\(spec.keyPrefix)/: \(error.message)")
            return
        }
        if !stale.isEmpty {
            logger.info("job \(job.id): removed \(stale.count) object(s) of the previous version: \(stale.map { ($0 as NSString).lastPathComponent }.sorted().joined(separator: ", "))")
        }
    }

    /// Error text names the working copy; say the file the user dropped.
    private func readable(_ text: String, _ spec: JobSpec) -> String {
        guard let original = spec.originalName else { return text }
        return text.replacingOccurrences(of: spec.input, with: original)
    }

    /// A watched upload moves to `done/` or to `failed/` beside a NAME.error.txt. An
    /// upload is never deleted.
    private func settleSource(_ job: Job, reason: String?) {
        guard let folder = job.spec.watchFolder, let name = job.spec.originalName else { return }
        let target = folder + "/" + (reason == nil ? "done" : "failed")
        do {
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            let destination = WatchFolder.freeName(in: target, name)
            if rename(job.spec.input, destination) != 0 {
                logger.error("job \(job.id): cannot move \(job.spec.input) to \(destination): \(String(cString: strerror(errno)))")
                return
            }
            try? queue.recordSettledSource(job.id, path: destination)
            if let reason {
                let text = """
                    \(name) was not published.
                    reason: \(reason)
                    job: \(job.id) (sluice jobs show \(job.id); sluice jobs retry \(job.id) after fixing the cause)
                    attempts: \(job.attempts)

                    """
                try text.write(toFile: destination + ".error.txt", atomically: true, encoding: .utf8)
            }
        } catch {
            logger.error("job \(job.id): cannot settle the source: \(error)")
        }
    }
}
