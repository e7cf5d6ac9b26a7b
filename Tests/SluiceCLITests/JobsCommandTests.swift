import Foundation
import SluiceTestSupport
import XCTest

/// The watch folder and job runner as users run them.
final class JobsCommandTests: XCTestCase {
    func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-jobs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func waitFor(_ what: String, timeout: Double = 90, _ condition: () throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !condition() {
            guard Date() < deadline else { throw ExternalTool.Failure(description: "timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// `sluice serve` with a watch folder: a valid upload is published and plays over RTMP,
    /// a corrupt one fails with its reason beside it, one still being written waits.
    func testWatchFolderPublishesWhatPlaysAndExplainsFailures() async throws {
        try ExternalTool.require("rtmpdump")
        let valid = try await TestMedia.shared.path(.source480)
        let root = try temporaryFolder()
        let data = root + "/data", uploads = root + "/uploads"
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: SluiceProcess.executable)
        process.arguments = ["serve", "--control-port", "0", "--data", data, "--rtmp-host", "127.0.0.1", "--rtmp-port", "0", "--http-port", "0", "--s3-port=-1"]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SLUICE_") }.merging([
            "SLUICE_WATCH_FOLDER": uploads, "SLUICE_WATCH_PREFIX": "talks", "SLUICE_WATCH_STABLE_SECONDS": "1",
        ]) { $1 }
        let logFile = root + "/serve.log"
        FileManager.default.createFile(atPath: logFile, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        try process.run()
        defer { process.terminate() }
        var log = ""
        try await waitFor("the server") {
            log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            return log.contains("ready: ")
        }
        let port = try XCTUnwrap(ServeCommandTests.port(after: "RTMP listening on 127.0.0.1:", in: log))

        // A slow copy: bytes keep arriving for 3 s, each write within the stability window.
        let slow = uploads + "/slow.mp4"
        let validData = try Data(contentsOf: URL(fileURLWithPath: valid))
        FileManager.default.createFile(atPath: slow, contents: validData.prefix(1000))
        try FileManager.default.copyItem(atPath: valid, toPath: uploads + "/keynote talk.mp4")
        try Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: uploads + "/corrupt.mp4"))
        FileManager.default.createFile(atPath: uploads + "/.hidden.mp4", contents: validData)
        let writer = try XCTUnwrap(FileHandle(forWritingAtPath: slow))
        var offset = 1000
        for _ in 0..<6 {
            try await Task.sleep(for: .milliseconds(500))
            XCTAssertTrue(FileManager.default.fileExists(atPath: slow), "a file still being written must not be taken")
            let end = min(validData.count, offset + validData.count / 6 + 1)
            try writer.seekToEnd()
            try writer.write(contentsOf: validData[offset..<end])
            offset = end
        }
        try writer.write(contentsOf: validData[offset...])
        try writer.close()

        try await waitFor("the valid uploads to finish") {
            FileManager.default.fileExists(atPath: uploads + "/done/keynote talk.mp4") && FileManager.default.fileExists(atPath: uploads + "/done/slow.mp4")
        }
        try await waitFor("the corrupt upload to fail") { FileManager.default.fileExists(atPath: uploads + "/failed/corrupt.mp4.error.txt") }
        let reason = try String(contentsOfFile: uploads + "/failed/corrupt.mp4.error.txt", encoding: .utf8)
        XCTAssertTrue(reason.contains("corrupt.mp4 is not a media file FFmpeg can open"), reason)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: uploads + "/failed/corrupt.mp4")).count, 200_000, "the source is kept whole")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: uploads + "/done/slow.mp4")), validData)
        XCTAssertTrue(FileManager.default.fileExists(atPath: uploads + "/.hidden.mp4"), "dot-files are left alone")

        let listing = try SluiceProcess.run(["jobs", "list", "--data", data])
        XCTAssertEqual(listing.output.components(separatedBy: "  done  ").count - 1, 2, listing.output)
        XCTAssertTrue(listing.output.contains("failed") && listing.output.contains("corrupt.mp4"), listing.output)
        // `jobs show` says where each upload is now, not the processing path it had.
        let failedID = try XCTUnwrap(listing.output.split(separator: "\n").first { $0.contains("corrupt.mp4") }?.split(separator: " ").first)
        let failedJob = try SluiceProcess.run(["jobs", "show", String(failedID), "--data", data]).output
        XCTAssertTrue(failedJob.contains("input: corrupt.mp4, now \(uploads)/failed/corrupt.mp4"), failedJob)

        // Published and playable at once, under talks/ASSET/.
        let output = root + "/played.flv"
        let played = try await ExternalTool.run(["rtmpdump", "-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "talks/keynote-talk/360p.flv", "-o", output],
                                                timeout: 30)
        // rtmpdump judges completeness by the last timestamp over the metadata duration and
        // wants 99.9%: a 10 s clip's last frame starts 20 ms before its end, so it says
        // "may be incomplete" (exit 2) after a full download. Compare the media instead.
        XCTAssertTrue(played.status == 0 || played.standardError.contains("Download may be incomplete"), played.standardError)
        let storeBody = try XCTUnwrap(try SluiceProcess.run(["bucket", "get", "media/talks/keynote-talk/360p.flv", root + "/published.flv", "--data", data]).status == 0 ? root + "/published.flv" : nil)
        let published = try FLVFile(path: storeBody).mediaKeptByLibrtmp
        let downloaded = try FLVFile(path: output).mediaKeptByLibrtmp
        XCTAssertGreaterThan(published.count, 300)
        XCTAssertEqual(downloaded.map(\.payload), published.map(\.payload), "the whole rendition arrived over RTMP")
        let objects = try SluiceProcess.run(["bucket", "ls", "media/talks/keynote-talk/", "--data", data]).output
        for name in ["480p.flv", "360p.flv", "keynote-talk.f4m", "keynote-talk.smil", "keynote-talk.json"] {
            XCTAssertTrue(objects.contains(name), "\(name) missing from \(objects)")
        }
        XCTAssertTrue(objects.contains("public-read"), objects)
    }

    /// Process ids of `sluice-transcode worker` processes encoding into DATA/work.
    func encoderProcesses(working data: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { entry in
            guard entry.allSatisfy(\.isNumber), let raw = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return false }
            let arguments = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return arguments.contains("worker") && arguments.contains { $0.hasPrefix(data + "/work/") }
        }
    }

    /// The encoder runs in a process of its own: when it crashes (here a stand-in that
    /// kills itself with SIGSEGV, as libav would on a hostile file) the job fails with a
    /// reason that says so, the upload is kept, and the runner goes on with the next job.
    func testEncoderCrashFailsOneJobAndTheRunnerGoesOn() async throws {
        let song = try await TestMedia.shared.path(.mp3)
        let root = try temporaryFolder()
        let data = root + "/data", uploads = root + "/uploads"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)  // as a first `sluice serve` makes it
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: song, toPath: uploads + "/poison.mp3")
        try FileManager.default.copyItem(atPath: song, toPath: uploads + "/fine.mp3")
        let real = URL(fileURLWithPath: SluiceProcess.executable).deletingLastPathComponent().appendingPathComponent("sluice-transcode").path
        let standIn = root + "/crashing-encoder"
        try """
            #!/bin/sh
            case "$*" in *poison*) kill -SEGV $$ ;; esac
            exec '\(real)' "$@"

            """.write(toFile: standIn, atomically: true, encoding: .utf8)
        chmod(standIn, 0o755)
        try "inputs: [uploads/*.mp3]\npreset: audio-only\nprefix: crash\n".write(toFile: root + "/batch.yml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try SluiceProcess.run(["jobs", "submit", root + "/batch.yml", "--data", data]).status, 0)
        let ran = try SluiceProcess.run(["jobs", "run", "--data", data], environment: ["SLUICE_TRANSCODER": standIn])
        XCTAssertEqual(ran.status, 0, ran.output)
        XCTAssertTrue(ran.output.contains("the encoder crashed (SIGSEGV) on this input"), ran.output)

        let list = try SluiceProcess.run(["jobs", "list", "--data", data]).output
        let lines = list.split(separator: "\n")
        let poison = try XCTUnwrap(lines.first { $0.contains("poison.mp3") }, list)
        XCTAssertTrue(poison.contains("failed"), list)
        XCTAssertTrue(try XCTUnwrap(lines.first { $0.contains("fine.mp3") }, list).contains("done"), list)
        let shown = try SluiceProcess.run(["jobs", "show", String(poison.split(separator: " ").first!), "--data", data]).output
        XCTAssertTrue(shown.contains("attempts: 1"), "a crash is not retried: \(shown)")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: uploads + "/poison.mp3")), try Data(contentsOf: URL(fileURLWithPath: song)),
                       "the upload is kept as it was")
        let listing = try SluiceProcess.run(["bucket", "ls", "media", "--recursive", "--data", data]).output
        XCTAssertTrue(listing.contains("crash/fine/aac-128.flv"), listing)
        XCTAssertFalse(listing.contains("crash/poison/"), listing)
    }

    /// `sluice jobs cancel` from another process stops the encoder mid-encode: the job
    /// ends cancelled, nothing is published, and no encoder process is left behind.
    func testCancelStopsTheEncoderProcess() async throws {
        let source = try await TestMedia.shared.path(.flv720p)
        let root = try temporaryFolder()
        let data = root + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)  // as a first `sluice serve` makes it
        try FileManager.default.copyItem(atPath: source, toPath: root + "/long.flv")
        try "inputs: [long.flv]\nprefix: cancelled\n".write(toFile: root + "/job.yml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try SluiceProcess.run(["jobs", "submit", root + "/job.yml", "--data", data]).status, 0)
        let runner = Process()
        runner.executableURL = URL(fileURLWithPath: SluiceProcess.executable)
        runner.arguments = ["jobs", "run", "--data", data]
        runner.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SLUICE_") }
        runner.standardOutput = FileHandle.nullDevice
        runner.standardError = FileHandle.nullDevice
        try runner.run()
        defer { if runner.isRunning { kill(runner.processIdentifier, SIGKILL) } }
        try await waitFor("encoding to start") {
            try SluiceProcess.run(["jobs", "show", "1", "--data", data]).output.contains("job 1: encoding")
        }
        XCTAssertEqual(encoderProcesses(working: data).count, 1)
        let cancelled = try SluiceProcess.run(["jobs", "cancel", "1", "--data", data])
        XCTAssertEqual(cancelled.status, 0, cancelled.output)
        try await waitFor("the runner to finish", timeout: 20) { !runner.isRunning }
        XCTAssertTrue(encoderProcesses(working: data).isEmpty)
        XCTAssertTrue(try SluiceProcess.run(["jobs", "show", "1", "--data", data]).output.contains("job 1: cancelled"))
        let listing = try SluiceProcess.run(["bucket", "ls", "media", "--recursive", "--data", data]).output
        XCTAssertFalse(listing.contains("cancelled/"), listing)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: data + "/work"), [])
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/long.flv"), "the input is kept")
    }

    /// kill -9 in mid-encode, then a restart: the job is requeued, its work folder goes,
    /// it publishes once, and the upload ends in done/.
    func testRunnerKilledMidEncodeResumesAfterRestart() async throws {
        let source = try await TestMedia.shared.path(.flv720p)
        let root = try temporaryFolder()
        let data = root + "/data", uploads = root + "/uploads"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)  // as a first `sluice serve` makes it
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        func startWatch() throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: SluiceProcess.executable)
            process.arguments = ["watch", uploads, "--data", data, "--stable-seconds", "0.5", "--prefix", "vod"]
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SLUICE_") }
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            return process
        }
        let first = try startWatch()
        try FileManager.default.copyItem(atPath: source, toPath: uploads + "/feature.flv")
        try await waitFor("encoding to start") {
            try SluiceProcess.run(["jobs", "show", "1", "--data", data]).output.contains("job 1: encoding")
        }
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertEqual(encoderProcesses(working: data).count, 1, "the encode runs in an encoder process")
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        // Its encoder process sees its standard input close and stops on its own.
        try await waitFor("the orphaned encoder to exit", timeout: 10) { encoderProcesses(working: data).isEmpty }
        let work = try FileManager.default.contentsOfDirectory(atPath: data + "/work")
        XCTAssertEqual(work, ["job-1"], "the killed encode left its work folder")

        let second = try startWatch()
        defer { second.terminate() }
        try await waitFor("the job to finish after the restart") {
            try SluiceProcess.run(["jobs", "show", "1", "--data", data]).output.contains("job 1: done")
        }
        let shown = try SluiceProcess.run(["jobs", "show", "1", "--data", data]).output
        XCTAssertTrue(shown.contains("attempts: 2"), shown)
        XCTAssertTrue(FileManager.default.fileExists(atPath: uploads + "/done/feature.flv"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: data + "/work"), [], "work folders are cleaned")
        let listing = try SluiceProcess.run(["bucket", "ls", "media", "--recursive", "--data", data]).output
        let published = listing.split(separator: "\n").filter { $0.contains("vod/feature/") }
        XCTAssertEqual(published.count, Set(published.map { $0.split(separator: " ").last! }).count, "each key once: \(listing)")
        XCTAssertEqual(published.count, shown.components(separatedBy: "published: ").count - 1, listing)
        XCTAssertEqual(try SluiceProcess.run(["jobs", "list", "--data", data]).output.split(separator: "\n").count, 1, "one job, not two")
    }

    /// A batch from a job file, run by `sluice jobs run`: each job's webhook gets one JSON
    /// POST when it ends, retried after the receiver fails once, and the command waits for
    /// the deliveries before it exits.
    func testBatchJobsNotifyTheirWebhookAndRetry() async throws {
        try ExternalTool.require("python3")
        let song = try await TestMedia.shared.path(.mp3)
        let root = try temporaryFolder()
        let data = root + "/data", uploads = root + "/uploads"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)  // as a first `sluice serve` makes it
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: song, toPath: uploads + "/tone.mp3")
        try Data((0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: uploads + "/broken.mp3"))
        let receiver = try WebhookReceiver.start(answering: [500], folder: root)
        defer { receiver.stop() }
        try """
            inputs: [uploads/*.mp3]
            preset: audio-only
            prefix: podcast
            metadata:
              show: Test Tones
            webhook: \(receiver.url)
            """.write(toFile: root + "/batch.yml", atomically: true, encoding: .utf8)

        let submitted = try SluiceProcess.run(["jobs", "submit", root + "/batch.yml", "--data", data])
        XCTAssertEqual(submitted.status, 0, submitted.output)
        let ran = try SluiceProcess.run(["jobs", "run", "--data", data])
        XCTAssertEqual(ran.status, 0, ran.output)

        // Delivered before `jobs run` returned: nothing may arrive later.
        let deliveries = receiver.deliveries
        XCTAssertEqual(deliveries.count, 3, "two jobs, and one retry after the 500: \(deliveries.map(\.body))\n\(ran.output)")
        XCTAssertEqual(deliveries.map(\.answered), [500, 200, 200])
        // The other job may end before the retry (1 s later): match the retry by job id.
        let refused = deliveries.first?.body["id"] as? Int
        XCTAssertEqual(deliveries.dropFirst().filter { $0.body["id"] as? Int == refused }.count, 1, "the failed POST is sent again")
        XCTAssertTrue(deliveries.allSatisfy { $0.path == "/hook" })
        let final = deliveries.dropFirst()
        let done = try XCTUnwrap(final.first { $0.body["state"] as? String == "done" }?.body, "\(final.map(\.body))")
        XCTAssertEqual(done["input"] as? String, uploads + "/tone.mp3")
        XCTAssertEqual(done["bucket"] as? String, "media")
        XCTAssertEqual(done["metadata"] as? [String: String], ["show": "Test Tones"])
        let objects = try XCTUnwrap(done["objects"] as? [String])
        for name in ["aac-128.flv", "aac-64.flv", "mp3-128.flv", "tone.json"] {
            XCTAssertTrue(objects.contains("podcast/tone/" + name), "\(name) missing from \(objects)")
        }
        XCTAssertNil(done["reason"])
        let failed = try XCTUnwrap(final.first { $0.body["state"] as? String == "failed" }?.body, "\(final.map(\.body))")
        XCTAssertEqual(failed["input"] as? String, uploads + "/broken.mp3")
        XCTAssertTrue((failed["reason"] as? String)?.contains("not a media file") == true, "\(failed)")
        XCTAssertEqual(failed["objects"] as? [String], [])
        XCTAssertTrue(ran.output.contains("answered 500"), ran.output)

        // What the webhook announced is what the store holds.
        let listing = try SluiceProcess.run(["bucket", "ls", "media", "--recursive", "--data", data]).output
        for object in objects { XCTAssertTrue(listing.contains(object), "\(object) not in \(listing)") }
    }

    /// The data folder on a 1 MB file system: the encode runs out of space, the job waits
    /// (attempts untouched, the upload kept in place), and once space returns it finishes.
    func testFullDiskWaitsForSpaceAndLosesNothing() async throws {
        let source = try await TestMedia.shared.path(.source480)
        let root = try temporaryFolder()
        let data = root + "/data", uploads = root + "/uploads"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)  // as a first `sluice serve` makes it
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        let disk = try await SmallFileSystem.mount(at: data, megabytes: 1)
        defer { disk.unmount() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: SluiceProcess.executable)
        process.arguments = ["watch", uploads, "--data", data, "--stable-seconds", "0.5", "--retry-delay", "0.5"]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SLUICE_") }
        let logFile = root + "/watch.log"
        FileManager.default.createFile(atPath: logFile, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        try FileManager.default.copyItem(atPath: source, toPath: uploads + "/talk.mp4")

        func log() -> String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }
        try await waitFor("two full-disk failures") { log().components(separatedBy: "No space left on device").count - 1 >= 2 }
        let waiting = try SluiceProcess.run(["jobs", "show", "1", "--data", data]).output
        XCTAssertTrue(waiting.contains("attempts: 0 of 3"), "a full disk uses up no attempts: \(waiting)")
        XCTAssertTrue(waiting.contains("reason: ") && waiting.contains("No space left on device"), waiting)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: uploads + "/failed"), [], "a full disk is not the upload's fault")
        let processing = uploads + "/.sluice-processing"
        let held = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: processing).first)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: processing + "/" + held)), try Data(contentsOf: URL(fileURLWithPath: source)))

        try await disk.grow(to: 128)
        try await waitFor("the job to finish once space returns") { FileManager.default.fileExists(atPath: uploads + "/done/talk.mp4") }
        let done = try SluiceProcess.run(["jobs", "show", "1", "--data", data]).output
        XCTAssertTrue(done.contains("job 1: done") && done.contains("attempts: 1 of 3"), done)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: uploads + "/done/talk.mp4")), try Data(contentsOf: URL(fileURLWithPath: source)))
        let listing = try SluiceProcess.run(["bucket", "ls", "media/talk/", "--data", data]).output
        for name in ["480p.flv", "360p.flv", "talk.json"] { XCTAssertTrue(listing.contains(name), "\(name) missing: \(listing)") }
    }
}

