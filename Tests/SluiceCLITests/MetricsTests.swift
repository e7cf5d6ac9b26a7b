import Foundation
import SluiceTestSupport
import XCTest

/// `/metrics` on the control port in Prometheus' text format, read with the Prometheus
/// project's own Python parser, after real clients played, were refused and used S3.
final class MetricsTests: XCTestCase {
    /// Samples as `name{label="value",…}` → value, parsed by prometheus_client.
    func scrape(_ port: Int) async throws -> [String: Double] {
        let script = """
            import json, sys, urllib.request
            from prometheus_client.parser import text_string_to_metric_families
            text = urllib.request.urlopen(sys.argv[1]).read().decode()
            samples = {}
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                    samples[sample.name + "{" + labels + "}"] = sample.value
            print(json.dumps(samples))
            """
        let result = try await ExternalTool.run(["python3", "-c", script, "http://127.0.0.1:\(port)/metrics"])
        XCTAssertEqual(result.status, 0, result.standardError)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: result.standardOutput) as? [String: Double], result.output)
    }

    func testMetricsAfterPlaysRefusalsAndS3Requests() async throws {
        try ExternalTool.require("rtmpdump")
        try ExternalTool.require("curl")
        try await ExternalTool.requirePython(module: "prometheus_client", install: "pip install prometheus_client")
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-metrics-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let (server, port, _, logFile) = try await ServeCommandTests.startServer(data: data)
        defer { server.terminate() }
        let log = try String(contentsOfFile: logFile, encoding: .utf8)
        let control = try XCTUnwrap(ServeCommandTests.port(after: "control port listening on 127.0.0.1:", in: log), log)
        let s3 = try XCTUnwrap(ServeCommandTests.port(after: "S3 API listening on 127.0.0.1:", in: log), log)

        let played = try await ExternalTool.run(["rtmpdump", "-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "sample.flv", "-o", "/dev/null"],
                                                timeout: 30)
        XCTAssertEqual(played.status, 0, played.standardError)
        _ = try await ExternalTool.run(["rtmpdump", "-z", "-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "missing.flv", "-o", "/dev/null"],
                                       timeout: 30)
        _ = try await ExternalTool.run(["rtmpdump", "-z", "-r", "rtmp://127.0.0.1:\(port)/vod", "-y", "sample.flv", "-o", "/dev/null"],
                                       timeout: 30)
        let head = try await ExternalTool.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-I", "http://127.0.0.1:\(s3)/media/secret.flv"])
        XCTAssertEqual(head.output, "403")
        // A job queued by another process after the server started (the job table did
        // not exist when it did) shows in the job gauges.
        try "not media".write(toFile: data + "/upload.mp4", atomically: true, encoding: .utf8)
        try "input: upload.mp4\npreset: audio-only\n".write(toFile: data + "/job.yml", atomically: true, encoding: .utf8)
        let submitted = try SluiceProcess.run(["jobs", "submit", data + "/job.yml", "--data", data])
        XCTAssertEqual(submitted.status, 0, submitted.output)
        let health = try await ExternalTool.run(["curl", "-s", "http://127.0.0.1:\(control)/health"])
        XCTAssertEqual(health.output, "ok\n")

        // The connections close a moment after the clients exit.
        var samples: [String: Double] = [:]
        let deadline = Date().addingTimeInterval(10)
        repeat {
            samples = try await scrape(control)
            try await Task.sleep(for: .milliseconds(100))
        } while samples["sluice_connections{protocol=\"rtmp\"}"] != 0 && Date() < deadline
        XCTAssertEqual(samples["sluice_connections{protocol=\"rtmp\"}"], 0, "\(samples)")
        XCTAssertGreaterThan(samples["sluice_bytes_sent_total{protocol=\"rtmp\"}"] ?? 0, 400_000, "\(samples)")
        XCTAssertEqual(samples["sluice_play_starts_total{distribution=\"default\"}"], 1, "\(samples)")
        XCTAssertEqual(samples["sluice_streams_playing{distribution=\"default\"}"], 0, "\(samples)")
        XCTAssertEqual(samples["sluice_refusals_total{code=\"NetStream.Play.StreamNotFound\"}"], 1, "\(samples)")
        XCTAssertEqual(samples["sluice_refusals_total{code=\"InvalidInstance\"}"], 1, "\(samples)")
        XCTAssertEqual(samples["sluice_s3_requests_total{operation=\"HeadObject\",status=\"403\"}"], 1, "\(samples)")
        XCTAssertEqual(samples["sluice_jobs{state=\"queued\"}"], 1, "\(samples)")
        XCTAssertEqual(samples["sluice_jobs{state=\"done\"}"], 0, "\(samples)")
    }
}
