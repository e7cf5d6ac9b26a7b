import Foundation
import GRDB

/// The job table: `DATA/jobs.sqlite` (WAL, so the runner, `sluice jobs` and the watch
/// folder share it across processes). Every state change is one transaction, and a job
/// is claimed by exactly one runner slot by an UPDATE that only a queued row matches.
public final class JobQueue: Sendable {
    let database: DatabasePool
    /// Signalled when this process queues a job, so that a runner sharing this queue starts
    /// it at once instead of at its next poll (other processes' jobs wait for the poll).
    private let arrivals = DispatchSemaphore(value: 0)

    public init(dataFolder: String) throws {
        try FileManager.default.createDirectory(atPath: dataFolder, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        database = try DatabasePool(path: dataFolder + "/jobs.sqlite", configuration: configuration)
        try Self.migrator.migrate(database)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1 jobs") { db in
            try db.create(table: "job") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("spec", .text).notNull()
                table.column("state", .text).notNull().indexed()
                table.column("priority", .integer).notNull()
                table.column("reason", .text)
                table.column("attempts", .integer).notNull()
                table.column("maxAttempts", .integer).notNull()
                table.column("nextAttemptAt", .datetime)
                table.column("progress", .double).notNull()
                table.column("detail", .text)
                table.column("published", .text).notNull()
                table.column("created", .datetime).notNull()
                table.column("updated", .datetime).notNull()
                table.column("started", .datetime)
                table.column("finished", .datetime)
            }
        }
        migrator.registerMigration("2 settled source") { db in
            // Where a watched upload went when its job ended (done/ or failed/).
            try db.alter(table: "job") { table in table.add(column: "settledSource", .text) }
        }
        return migrator
    }

    static func job(_ row: Row) -> Job {
        let spec = (try? JSONDecoder().decode(JobSpec.self, from: Data((row["spec"] as String).utf8))) ?? JobSpec(input: "?")
        let published = (try? JSONDecoder().decode([String].self, from: Data((row["published"] as String).utf8))) ?? []
        return Job(id: row["id"], spec: spec, state: JobState(rawValue: row["state"]) ?? .failed, reason: row["reason"], attempts: row["attempts"],
                   maxAttempts: row["maxAttempts"], nextAttemptAt: row["nextAttemptAt"], progress: row["progress"], detail: row["detail"],
                   published: published, created: row["created"], updated: row["updated"], started: row["started"], finished: row["finished"],
                   settledSource: row["settledSource"])
    }

    static func text<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
    }

    @discardableResult
    public func submit(_ spec: JobSpec, maxAttempts: Int = 3) throws -> Job {
        let job = try database.write { db in
            let now = Date()
            try db.execute(sql: """
                INSERT INTO job (spec, state, priority, attempts, maxAttempts, progress, published, created, updated)
                VALUES (?, 'queued', ?, 0, ?, 0, '[]', ?, ?)
                """, arguments: [Self.text(spec), spec.priority, maxAttempts, now, now])
            return Self.job(try Row.fetchOne(db, sql: "SELECT * FROM job WHERE id = ?", arguments: [db.lastInsertedRowID])!)
        }
        arrivals.signal()
        return job
    }

    /// Waits until this process queues a job or `timeout` passes, whichever is first.
    public func waitForArrival(timeout: TimeInterval) {
        _ = arrivals.wait(timeout: .now() + timeout)
    }

    public func job(_ id: Int64) throws -> Job? {
        try database.read { db in try Row.fetchOne(db, sql: "SELECT * FROM job WHERE id = ?", arguments: [id]).map(Self.job) }
    }

    public func list(states: [JobState]? = nil, limit: Int = 1000) throws -> [Job] {
        try database.read { db in
            if let states {
                let marks = states.map { _ in "?" }.joined(separator: ",")
                return try Row.fetchAll(db, sql: "SELECT * FROM job WHERE state IN (\(marks)) ORDER BY id DESC LIMIT ?",
                                        arguments: StatementArguments(states.map(\.rawValue) + [String(limit)])).map(Self.job)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM job ORDER BY id DESC LIMIT ?", arguments: [limit]).map(Self.job)
        }
    }

    /// How many jobs are in each state (states with none are absent), in one query.
    public func countsByState() throws -> [JobState: Int] {
        try database.read { db in
            var counts: [JobState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM job GROUP BY state") {
                if let state = JobState(rawValue: row["state"]) { counts[state, default: 0] += row["n"] as Int }
            }
            return counts
        }
    }

    /// Takes the most urgent queued job that is due, marking it probing; nil when none.
    public func claimNext(now: Date = Date()) throws -> Job? {
        try database.write { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT * FROM job WHERE state = 'queued' AND (nextAttemptAt IS NULL OR nextAttemptAt <= ?)
                ORDER BY priority DESC, id LIMIT 1
                """, arguments: [now]) else { return nil }
            let id: Int64 = row["id"]
            try db.execute(sql: """
                UPDATE job SET state = 'probing', attempts = attempts + 1, progress = 0, detail = NULL, started = ?, updated = ?
                WHERE id = ? AND state = 'queued'
                """, arguments: [now, now, id])
            return Self.job(try Row.fetchOne(db, sql: "SELECT * FROM job WHERE id = ?", arguments: [id])!)
        }
    }

    /// When the next queued job becomes due (for sleeping until then).
    public func nextDue() throws -> Date? {
        try database.read { db in
            try Date.fetchOne(db, sql: "SELECT MIN(COALESCE(nextAttemptAt, created)) FROM job WHERE state = 'queued'")
        }
    }

    /// Moves a running job on, unless it was cancelled meanwhile. Returns false then.
    @discardableResult
    public func advance(_ id: Int64, to state: JobState, progress: Double = 0, detail: String? = nil) throws -> Bool {
        try database.write { db in
            try db.execute(sql: """
                UPDATE job SET state = ?, progress = ?, detail = ?, updated = ? WHERE id = ? AND state IN ('probing', 'encoding', 'publishing')
                """, arguments: [state.rawValue, progress, detail, Date(), id])
            return db.changesCount > 0
        }
    }

    public func report(_ id: Int64, progress: Double, detail: String?) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE job SET progress = ?, detail = ?, updated = ? WHERE id = ? AND state IN ('probing', 'encoding', 'publishing')",
                           arguments: [progress, detail, Date(), id])
        }
    }

    public func recordPublished(_ id: Int64, keys: [String]) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE job SET published = ?, updated = ? WHERE id = ?", arguments: [Self.text(keys), Date(), id])
        }
    }

    /// Ends a running job. Returns the job as ended, or nil when it was no longer running
    /// (cancelled meanwhile): then the caller must not act on its outcome.
    public func finish(_ id: Int64, state: JobState, reason: String? = nil) throws -> Job? {
        try database.write { db in
            let now = Date()
            try db.execute(sql: """
                UPDATE job SET state = ?, reason = ?, progress = CASE WHEN ? = 'done' THEN 1 ELSE progress END, finished = ?, updated = ?
                WHERE id = ? AND state IN ('probing', 'encoding', 'publishing')
                """, arguments: [state.rawValue, reason, state.rawValue, now, now, id])
            guard db.changesCount > 0 else { return nil }
            return Self.job(try Row.fetchOne(db, sql: "SELECT * FROM job WHERE id = ?", arguments: [id])!)
        }
    }

    /// A transient failure: queue it again after `delay`, or fail it when out of attempts.
    /// Returns the job's new state.
    public func retryLater(_ id: Int64, reason: String, delay: TimeInterval) throws -> Job? {
        try database.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM job WHERE id = ?", arguments: [id]) else { return nil }
            let job = Self.job(row)
            guard job.state.isRunning else { return nil }
            let now = Date()
            if job.attempts >= job.maxAttempts {
                try db.execute(sql: "UPDATE job SET state = 'failed', reason = ?, finished = ?, updated = ? WHERE id = ?",
                               arguments: ["\(reason) (gave up after \(job.attempts) attempts)", now, now, id])
            } else {
                try db.execute(sql: "UPDATE job SET state = 'queued', reason = ?, nextAttemptAt = ?, progress = 0, detail = NULL, updated = ? WHERE id = ?",
                               arguments: [reason, now.addingTimeInterval(delay), now, id])
            }
            return Self.job(try Row.fetchOne(db, sql: "SELECT * FROM job WHERE id = ?", arguments: [id])!)
        }
    }

    /// Cancels a queued or running job (a running one stops at its next packet).
    public func cancel(_ id: Int64) throws -> Job? {
        try database.write { db in
            let now = Date()
            try db.execute(sql: """
                UPDATE job SET state = 'cancelled', reason = 'cancelled', finished = ?, updated = ?
                WHERE id = ? AND state IN ('queued', 'probing', 'encoding', 'publishing')
                """, arguments: [now, now, id])
            guard db.changesCount > 0 else { return nil }
            return Self.job(try Row.fetchOne(db, sql: "SELECT * FROM job WHERE id = ?", arguments: [id])!)
        }
    }

    public func state(_ id: Int64) throws -> JobState? {
        try database.read { db in try String.fetchOne(db, sql: "SELECT state FROM job WHERE id = ?", arguments: [id]).flatMap(JobState.init) }
    }

    /// Queues a failed or cancelled job again, with fresh attempts.
    public func retry(_ id: Int64) throws -> Job? {
        try database.write { db in
            try db.execute(sql: """
                UPDATE job SET state = 'queued', reason = NULL, attempts = 0, nextAttemptAt = NULL, progress = 0, detail = NULL,
                finished = NULL, updated = ? WHERE id = ? AND state IN ('failed', 'cancelled')
                """, arguments: [Date(), id])
            guard db.changesCount > 0 else { return nil }
            return Self.job(try Row.fetchOne(db, sql: "SELECT * FROM job WHERE id = ?", arguments: [id])!)
        }
    }

    /// After a crash: jobs left running go back to the queue. Returns them.
    public func requeueInterrupted() throws -> [Job] {
        try database.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM job WHERE state IN ('probing', 'encoding', 'publishing')").map(Self.job)
            try db.execute(sql: """
                UPDATE job SET state = 'queued', reason = 'interrupted (the runner stopped); requeued', progress = 0, detail = NULL,
                nextAttemptAt = NULL, updated = ? WHERE state IN ('probing', 'encoding', 'publishing')
                """, arguments: [Date()])
            return rows
        }
    }

    /// Where a watched upload was moved when its job ended.
    public func recordSettledSource(_ id: Int64, path: String) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE job SET settledSource = ? WHERE id = ?", arguments: [path, id])
        }
    }

    /// A runner stopped on purpose: its running job goes back to the queue and gets
    /// back the attempt it was using. Returns nil when the job was no longer running.
    @discardableResult
    public func requeueStopped(_ id: Int64) throws -> Job? {
        try database.write { db in
            try db.execute(sql: """
                UPDATE job SET state = 'queued', reason = 'stopped with the runner; requeued', attempts = MAX(0, attempts - 1),
                progress = 0, detail = NULL, nextAttemptAt = NULL, updated = ? WHERE id = ? AND state IN ('probing', 'encoding', 'publishing')
                """, arguments: [Date(), id])
            guard db.changesCount > 0 else { return nil }
            return Self.job(try Row.fetchOne(db, sql: "SELECT * FROM job WHERE id = ?", arguments: [id])!)
        }
    }

    /// Inputs of jobs not yet final (the watch folder uses this to never take a file twice).
    public func activeInputs() throws -> Set<String> {
        Set(try list(states: [.queued, .probing, .encoding, .publishing]).map(\.spec.input))
    }

    public func allInputs() throws -> Set<String> {
        Set(try database.read { db in try String.fetchAll(db, sql: "SELECT spec FROM job") }.compactMap {
            try? JSONDecoder().decode(JobSpec.self, from: Data($0.utf8)).input
        })
    }
}

extension JobQueue {
    /// A retry caused by the machine (a full disk) does not use up an attempt.
    public func refundAttempt(_ id: Int64) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE job SET attempts = MAX(0, attempts - 1) WHERE id = ?", arguments: [id])
        }
    }
}
