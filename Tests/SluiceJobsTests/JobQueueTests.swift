import Foundation
import Logging
@testable import SluiceJobs
import SluiceYAML
import XCTest

final class JobQueueTests: XCTestCase {
    var folder = ""

    override func setUp() {
        folder = NSTemporaryDirectory() + "sluice-jobs-\(UUID().uuidString)"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testEmptyOneByteAndNonScalarJobFilesAreErrors() {
        for text in ["", "\n", "-", "[a]: b\n", "input: [[a]]\n", "inputs: a\n", "inputs: [{a: b}]\n", "input: a\npriority: 1e400\n",
                     "input: a\nmetadata: {k: [1]}\n", "input: a\npriority: 99999999999999999999\n"] {
            XCTAssertThrowsError(try JobFile.parse(text, relativeTo: "/jobs", expand: { [$0] }), text)
        }
        XCTAssertEqual(try JobFile.parse("input: a.mp4\npriority: 3\n", relativeTo: "/jobs", expand: { [$0] }).first?.priority, 3)
    }

    func testYAMLSettingsRefuseNonScalarKeysAndDeepNesting() throws {
        XCTAssertThrowsError(try YAMLText.load("[a]: b\n"))
        XCTAssertThrowsError(try YAMLText.load(String(repeating: "- ", count: 40) + "x\n"))
        // libyaml ends lines at CR, NEL, LS and PS too: nesting hidden behind a comment
        // by any of them once overflowed the stack.
        for lineBreak in ["\r", "\u{85}", "\u{2028}", "\u{2029}", "\r\n"] {
            XCTAssertThrowsError(try YAMLText.load("# note" + lineBreak + String(repeating: " -", count: 2000) + "\n- x\n"), lineBreak.debugDescription)
            XCTAssertThrowsError(try YAMLText.load("a:" + lineBreak + String(repeating: "-\t", count: 2000) + "x\n"), lineBreak.debugDescription)
        }
        let crLines = try XCTUnwrap(try YAMLText.load("a: 1\rb:\r  - 2\r") as? [String: Any])
        XCTAssertEqual(crLines["a"] as? Int, 1)
        XCTAssertEqual(crLines["b"] as? [Int], [2])
        XCTAssertNil(try YAMLText.load(""))
        let settings = try XCTUnwrap(try YAMLText.load("rtmp:\n  port: 1935\nname: x\n") as? [String: Any])
        XCTAssertEqual((settings["rtmp"] as? [String: Any])?["port"] as? Int, 1935)
    }

    func testClaimsByPriorityThenAgeAndOnlyOnce() throws {
        let queue = try JobQueue(dataFolder: folder)
        let low = try queue.submit(JobSpec(input: "/a.mp4"))
        let high = try queue.submit(JobSpec(input: "/b.mp4", priority: 5))
        let other = try JobQueue(dataFolder: folder)
        XCTAssertEqual(try other.claimNext()?.id, high.id)
        let claimed = try queue.claimNext()
        XCTAssertEqual(claimed?.id, low.id)
        XCTAssertEqual(claimed?.state, .probing)
        XCTAssertEqual(claimed?.attempts, 1)
        XCTAssertNil(try queue.claimNext())
    }

    func testTransientFailuresBackOffThenFail() throws {
        let queue = try JobQueue(dataFolder: folder)
        let job = try queue.submit(JobSpec(input: "/a.mp4"), maxAttempts: 2)
        _ = try queue.claimNext()
        let later = try XCTUnwrap(try queue.retryLater(job.id, reason: "disk hiccup", delay: 60))
        XCTAssertEqual(later.state, .queued)
        XCTAssertNil(try queue.claimNext(), "not due for a minute")
        _ = try XCTUnwrap(try queue.claimNext(now: Date().addingTimeInterval(61)))
        let failed = try XCTUnwrap(try queue.retryLater(job.id, reason: "disk hiccup", delay: 60))
        XCTAssertEqual(failed.state, .failed)
        XCTAssertEqual(failed.reason, "disk hiccup (gave up after 2 attempts)")
        XCTAssertEqual(try queue.retry(job.id)?.state, .queued)
        XCTAssertEqual(try queue.job(job.id)?.attempts, 0)
    }

    func testCancelStopsARunningJobFromFinishing() throws {
        let queue = try JobQueue(dataFolder: folder)
        let job = try queue.submit(JobSpec(input: "/a.mp4"))
        _ = try queue.claimNext()
        XCTAssertEqual(try queue.cancel(job.id)?.state, .cancelled)
        XCTAssertFalse(try queue.advance(job.id, to: .encoding))
        XCTAssertNil(try queue.finish(job.id, state: .done), "a cancelled job must not become done")
        XCTAssertNil(try queue.cancel(job.id))
    }

    func testInterruptedJobsAreRequeued() throws {
        let queue = try JobQueue(dataFolder: folder)
        let job = try queue.submit(JobSpec(input: "/a.mp4"))
        _ = try queue.claimNext()
        try queue.advance(job.id, to: .encoding)
        let requeued = try queue.requeueInterrupted()
        XCTAssertEqual(requeued.map(\.id), [job.id])
        XCTAssertEqual(try queue.job(job.id)?.state, .queued)
    }

    func testJobFiles() throws {
        let base = folder + "/files"
        try FileManager.default.createDirectory(atPath: base + "/uploads", withIntermediateDirectories: true)
        for name in ["b.mp4", "a.mp4", "notes.txt"] { FileManager.default.createFile(atPath: base + "/uploads/" + name, contents: Data()) }
        let many = try JobFile.parse("""
            inputs:
              - uploads/*.mp4
            preset: mobile
            prefix: /series/one/
            priority: 3
            metadata:
              Title: Pilot
            webhook: http://127.0.0.1:9/hook
            """, relativeTo: base)
        XCTAssertEqual(many.map(\.input), [base + "/uploads/a.mp4", base + "/uploads/b.mp4"])
        XCTAssertEqual(many.first?.keyPrefix, "series/one/a")
        XCTAssertEqual(many.first?.metadata, ["title": "Pilot"])
        XCTAssertEqual(many.first?.priority, 3)
        XCTAssertEqual(many.first?.acl, "public-read")
        XCTAssertThrowsError(try JobFile.parse("input: uploads/*.mov", relativeTo: base)) { error in
            XCTAssertTrue("\(error)".contains("no file matches 'uploads/*.mov'"), "\(error)")
        }
        XCTAssertThrowsError(try JobFile.parse("input: uploads/a.mp4\npreset: mobile\nbucekt: x", relativeTo: base)) { error in
            XCTAssertTrue("\(error)".contains("unknown key 'bucekt'"), "\(error)")
        }
        XCTAssertThrowsError(try JobFile.parse("input: uploads/a.mp4\nacl: public-read-write", relativeTo: base))
        // The examples shipped in jobs/ parse (their inputs need not exist: only the shape).
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("jobs").path
        let files = try FileManager.default.contentsOfDirectory(atPath: examples).filter { $0.hasSuffix(".yml") }
        XCTAssertGreaterThanOrEqual(files.count, 3)
        for file in files {
            XCTAssertThrowsError(try JobFile.load(examples + "/" + file)) { error in
                XCTAssertTrue("\(error)".contains("no file matches"), "\(file): \(error)")
            }
        }
    }

    func testWatchFolderTakesOnlyStableFilesOnce() throws {
        let queue = try JobQueue(dataFolder: folder + "/data")
        let watched = folder + "/watch"
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let watch = WatchFolder(folder: watched, queue: queue, template: JobSpec(input: "", prefix: "in"), stableFor: 2, logger: logger)
        for sub in ["", "/" + WatchFolder.processingFolder] {
            try FileManager.default.createDirectory(atPath: watched + sub, withIntermediateDirectories: true)
        }
        let start = Date()
        FileManager.default.createFile(atPath: watched + "/talk one.mp4", contents: Data("a".utf8))
        FileManager.default.createFile(atPath: watched + "/.partial.mp4", contents: Data("a".utf8))
        let growing = watched + "/growing.mp4"
        FileManager.default.createFile(atPath: growing, contents: Data("a".utf8))
        XCTAssertTrue(watch.scan(now: start).isEmpty)
        XCTAssertTrue(watch.scan(now: start.addingTimeInterval(1)).isEmpty, "not stable for 2 s yet")
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: growing))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("more".utf8))
        try handle.close()
        let taken = watch.scan(now: start.addingTimeInterval(2.5))
        XCTAssertEqual(taken.map(\.spec.originalName), ["talk one.mp4"])
        XCTAssertEqual(taken.first?.spec.asset, "talk-one")
        XCTAssertEqual(taken.first?.spec.keyPrefix, "in/talk-one")
        XCTAssertFalse(FileManager.default.fileExists(atPath: watched + "/talk one.mp4"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: try XCTUnwrap(taken.first?.spec.input)))
        XCTAssertTrue(watch.scan(now: start.addingTimeInterval(3)).isEmpty, "growing.mp4 changed at 2.5 s")
        XCTAssertEqual(watch.scan(now: start.addingTimeInterval(5)).map(\.spec.originalName), ["growing.mp4"])
        XCTAssertTrue(watch.scan(now: start.addingTimeInterval(10)).isEmpty, "nothing twice; dot-files never")
        XCTAssertTrue(FileManager.default.fileExists(atPath: watched + "/.partial.mp4"))

        // A file taken just before a crash, with no job yet, is queued on start.
        FileManager.default.createFile(atPath: watched + "/" + WatchFolder.processingFolder + "/0badf00d-orphan.mp4", contents: Data())
        try watch.recover()
        XCTAssertEqual(try queue.list().filter { $0.spec.originalName == "orphan.mp4" }.count, 1)
        try watch.recover()
        XCTAssertEqual(try queue.list().count, 3)
    }
}
