import ArgumentParser
import Foundation
import Logging
import SluiceCommandLine
import SluiceJobs
import SluiceStore

/// Options of the commands that run jobs (`sluice watch`, `sluice jobs run`).
struct RunnerOptions: ParsableArguments {
    @Option(name: .long, help: "The folder of preset files.")
    var presetsDir: String?

    @Option(name: .long, help: "Jobs encoded at once.")
    var concurrency: Int = 1

    @Option(name: .long, help: "The RTMP base URL manifests point players at (default: public-url of the data folder).")
    var baseURL: String?

    @Option(name: .long, help: "Seconds before the first retry of a transient failure (doubling after).")
    var retryDelay: Double = 30

    func runner(location: DataLocation, queue: JobQueue, store: any ObjectStore, logger: Logger) throws -> JobRunner {
        let folder = try location.folder
        let publicURL = try location.publicURL(override: baseURL)
        logger.info("\(publicURL.notice)")
        var configuration: JobRunnerConfiguration
        do {
            configuration = try .located(workFolder: folder.path + "/work", presetsDir: presetsDir)
        } catch {
            throw CommandFailure(error.description)
        }
        configuration.concurrency = max(1, concurrency)
        configuration.baseURL = publicURL.url
        configuration.retryDelay = retryDelay
        return JobRunner(queue: queue, store: store, configuration: configuration, logger: logger)
    }
}

enum JobText {
    static func line(_ job: Job) -> String {
        let percent = job.state.isRunning ? String(format: " %3.0f%%", job.progress * 100) : ""
        let name = job.spec.originalName ?? (job.spec.input as NSString).lastPathComponent
        let id = String(job.id)
        let state = job.state.rawValue
        var text = String(repeating: " ", count: max(0, 5 - id.count)) + id + "  " + state + String(repeating: " ", count: max(0, 10 - state.count))
            + percent + "  \(name) → \(job.spec.bucket)/\(job.spec.keyPrefix)/"
        if let detail = job.detail, job.state.isRunning { text += "  (\(detail))" }
        if let reason = job.reason, job.state == .failed || job.state == .queued { text += "  — \(reason)" }
        return text
    }

    /// The upload, and where it is now: moved to done/ or failed/ once the job ended,
    /// in the watch folder's processing folder while it runs.
    static func input(_ job: Job) -> String {
        guard let original = job.spec.originalName else { return job.spec.input }
        if let settled = job.settledSource { return "\(original), now \(settled)" }
        if FileManager.default.fileExists(atPath: job.spec.input) { return "\(original), now \(job.spec.input)" }
        return "\(original) (no longer at \(job.spec.input))"
    }

    static func details(_ job: Job) -> String {
        var lines = [
            "job \(job.id): \(job.state.rawValue)",
            "input: \(JobText.input(job))",
            "preset: \(job.spec.preset)",
            "destination: \(job.spec.bucket)/\(job.spec.keyPrefix)/ (\(job.spec.acl))",
            "priority: \(job.spec.priority)",
            "attempts: \(job.attempts) of \(job.maxAttempts)",
            "created: \(job.created)",
        ]
        if let started = job.started { lines.append("started: \(started)") }
        if let finished = job.finished { lines.append("finished: \(finished)") }
        if job.state.isRunning { lines.append(String(format: "progress: %.0f%% %@", job.progress * 100, job.detail ?? "")) }
        if let reason = job.reason { lines.append("reason: \(reason)") }
        if let next = job.nextAttemptAt, job.state == .queued { lines.append("next attempt: \(next)") }
        if let webhook = job.spec.webhook { lines.append("webhook: \(webhook)") }
        for (key, value) in job.spec.metadata.sorted(by: { $0.key < $1.key }) { lines.append("metadata \(key): \(value)") }
        for key in job.published { lines.append("published: \(job.spec.bucket)/\(key)") }
        return lines.joined(separator: "\n")
    }
}

struct JobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "Submit, follow and manage encode-and-publish jobs.",
        discussion: """
            Jobs live in DATA/jobs.sqlite. `sluice serve` (with watch.folder set), `sluice
            watch` and `sluice jobs run` run them; the other commands work beside a
            running runner.

              sluice jobs submit jobs/single.yml
              sluice jobs list
              sluice jobs watch
              sluice jobs show 12
              sluice jobs cancel 12
              sluice jobs retry 12
              sluice jobs run                      # run the queue here until it is empty
              sluice jobs rm-asset media/talks/keynote
            """,
        subcommands: [Submit.self, List.self, Show.self, Retry.self, Cancel.self, Follow.self, RunQueue.self, RemoveAsset.self]
    )

    struct Submit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue the jobs a job file describes (see jobs/ for examples).")
        @Argument(help: "Job files (YAML).") var files: [String]
        @OptionGroup var location: DataLocation
        func run() throws {
            let queue = try location.queue()
            var specs: [JobSpec] = []
            for file in files {
                do {
                    specs += try JobFile.load(file)
                } catch let error as JobError {
                    throw CommandFailure(error.description)
                }
            }
            for spec in specs {
                let job = try queue.submit(spec)
                print("queued job \(job.id): \(spec.input) → \(spec.bucket)/\(spec.keyPrefix)/")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")
        @Option(name: .long, help: "Only jobs in this state (queued, probing, encoding, publishing, done, failed, cancelled).")
        var state: String?
        @OptionGroup var location: DataLocation
        func run() throws {
            var states: [JobState]?
            if let state {
                guard let parsed = JobState(rawValue: state) else { throw ValidationError("'\(state)' is not a job state") }
                states = [parsed]
            }
            let jobs = try location.queue().list(states: states)
            if jobs.isEmpty { print("no jobs") }
            for job in jobs { print(JobText.line(job)) }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Everything about one job.")
        @Argument var id: Int64
        @OptionGroup var location: DataLocation
        func run() throws {
            guard let job = try location.queue().job(id) else { throw CommandFailure("no job \(id)") }
            print(JobText.details(job))
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue a failed or cancelled job again.")
        @Argument var id: Int64
        @OptionGroup var location: DataLocation
        func run() throws {
            let queue = try location.queue()
            guard let job = try queue.job(id) else { throw CommandFailure("no job \(id)") }
            WatchFolder.reclaim(job)
            guard try queue.retry(id) != nil else { throw CommandFailure("job \(id) is \(job.state.rawValue); only failed or cancelled jobs can be retried") }
            print("job \(id) queued again")
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a queued or running job (a running encode stops within a second).")
        @Argument var id: Int64
        @OptionGroup var location: DataLocation
        func run() throws {
            let queue = try location.queue()
            guard let job = try queue.job(id) else { throw CommandFailure("no job \(id)") }
            guard try queue.cancel(id) != nil else { throw CommandFailure("job \(id) is already \(job.state.rawValue)") }
            print("job \(id) cancelled")
        }
    }

    struct Follow: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "watch", abstract: "Show live progress until no job is queued or running.")
        @Option(name: .long, help: "Seconds between updates.") var interval: Double = 1
        @OptionGroup var location: DataLocation
        func run() throws {
            let queue = try location.queue()
            let terminal = isatty(STDOUT_FILENO) == 1
            var previous: [String] = []
            while true {
                let active = try queue.list(states: [.queued, .probing, .encoding, .publishing]).reversed()
                let lines = active.map(JobText.line)
                if terminal {
                    print("\u{1B}[H\u{1B}[2J" + (lines.isEmpty ? "no active jobs" : lines.joined(separator: "\n")))
                } else if lines != previous {
                    lines.forEach { print($0) }
                }
                previous = lines
                if active.isEmpty { return }
                Thread.sleep(forTimeInterval: interval)
            }
        }
    }

    struct RunQueue: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "run", abstract: "Run queued jobs here until none is left.")
        @OptionGroup var location: DataLocation
        @OptionGroup var options: RunnerOptions
        func run() throws {
            let logger = try CommandLogging.logger(for: location)
            let queue = try location.queue()
            let runner = try options.runner(location: location, queue: queue, store: try location.store(),
                                            logger: logger)
            StopSignal.install()
            try runner.start()
            Thread.sleep(forTimeInterval: 0.5)
            while !runner.isIdle, StopSignal.received == 0 { Thread.sleep(forTimeInterval: 0.1) }
            if StopSignal.received != 0 { logger.info("stopping: the running job goes back to the queue") }
            runner.stop()
            // Long enough for a receiver that fails a few times (1 + 2 + 4 + 8 s of delays).
            runner.notifier.waitForDeliveries(upTo: 30)
            let failed = try queue.list(states: [.failed]).filter { ($0.finished ?? .distantPast) > Date().addingTimeInterval(-86_400) }
            if !failed.isEmpty { logger.warning("\(failed.count) job(s) failed in the last day: sluice jobs list --state failed") }
            if StopSignal.received != 0 { throw ExitCode(StopSignal.exitStatus) }
        }
    }

    struct RemoveAsset: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm-asset", abstract: "Delete a published asset: every object under BUCKET/PREFIX/ASSET/.")
        @Argument(help: "BUCKET/PREFIX/ASSET, as `sluice jobs show` prints it.") var asset: String
        @OptionGroup var location: DataLocation
        func run() throws {
            let (bucket, key) = try BucketCommand.split(asset.hasSuffix("/") ? String(asset.dropLast()) : asset)
            let store = try location.store()
            var removed = 0
            let keys = try store.allKeys(bucket: bucket, prefix: key + "/")
            guard !keys.isEmpty else { throw CommandFailure("nothing is published under \(bucket)/\(key)/") }
            for object in keys {
                try store.deleteObject(bucket: bucket, key: object)
                removed += 1
            }
            print("removed \(removed) object(s) under \(bucket)/\(key)/")
        }
    }
}

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Turn files dropped in a folder into published renditions.",
        discussion: """
            A file becomes a job once its size and modification time stay the same for
            --stable-seconds (copies in progress and dot-files are ignored). Its
            renditions and manifests go to BUCKET/PREFIX/ASSET/; the file then moves to
            DIR/done/, or to DIR/failed/ beside NAME.error.txt saying why. Nothing is
            deleted, and nothing is taken twice, also across restarts. Stop with Ctrl-C; a
            running encode is requeued.

              sluice watch uploads --preset dynamic-streaming --prefix talks
            """
    )

    @Argument(help: "The folder to watch (created if missing).") var folder: String
    @Option(name: .long, help: "Preset for the jobs.") var preset: String = "dynamic-streaming"
    @Option(name: .long, help: "Destination bucket.") var bucket: String = "media"
    @Option(name: .long, help: "Key prefix inside the bucket.") var prefix: String = ""
    @Option(name: .long, help: "ACL of the published objects: public-read (plays at once) or private.") var acl: String = "public-read"
    @Option(name: .long, help: "A URL that receives a JSON POST when each job ends.") var webhook: String?
    @Option(name: .long, help: "Seconds a file must stay unchanged before it is taken.") var stableSeconds: Double = 2
    @Flag(name: .long, help: "Leave objects of an earlier version of an asset (by default publishing replaces the asset).") var keepOld = false
    @OptionGroup var location: DataLocation
    @OptionGroup var options: RunnerOptions

    func run() throws {
        guard acl == "private" || acl == "public-read" else { throw ValidationError("--acl must be private or public-read") }
        let logger = try CommandLogging.logger(for: location)
        let queue = try location.queue()
        let store = try location.store()
        if try !store.bucketExists(bucket) { try store.createBucket(bucket) }
        let runner = try options.runner(location: location, queue: queue, store: store, logger: logger)
        let template = JobSpec(input: "", preset: preset, bucket: bucket, prefix: prefix, acl: acl, webhook: webhook, keepOld: keepOld)
        let watcher = WatchFolder(folder: folder, queue: queue, template: template, stableFor: stableSeconds, logger: logger)
        StopSignal.install()
        try watcher.start()
        try runner.start()
        while StopSignal.received == 0 { Thread.sleep(forTimeInterval: 0.1) }
        logger.info("stopping: a running job goes back to the queue")
        watcher.stop()
        runner.stop()
        runner.notifier.waitForDeliveries(upTo: 5)
        throw ExitCode(StopSignal.exitStatus)
    }
}
