import Foundation
import SluiceTestSupport
import XCTest

/// The URL manifests point players at comes from the data folder's `public-url`, or is
/// guessed from the host name and the RTMP port the server really has.
final class PublicURLTests: XCTestCase {
    static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, 255)
        return String(cString: buffer)
    }

    func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-url-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func manifests(_ asset: String, data: String, root: String) throws -> (f4m: String, smil: String, json: [String: Any]) {
        var texts: [String] = []
        for name in ["\(asset).f4m", "\(asset).smil", "\(asset).json"] {
            let copy = root + "/" + name
            let got = try SluiceProcess.run(["bucket", "get", "media/\(asset)/\(name)", copy, "--data", data])
            XCTAssertEqual(got.status, 0, got.output)
            texts.append(try String(contentsOfFile: copy, encoding: .utf8))
        }
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(texts[2].utf8)) as? [String: Any])
        return (texts[0], texts[1], json)
    }

    func assertBase(_ url: String, _ manifests: (f4m: String, smil: String, json: [String: Any]), asset: String,
                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(manifests.f4m.contains("<baseURL>\(url)</baseURL>"), manifests.f4m, file: file, line: line)
        XCTAssertTrue(manifests.smil.contains("<meta base=\"\(url)\""), manifests.smil, file: file, line: line)
        XCTAssertEqual(manifests.json["baseURL"] as? String, url, file: file, line: line)
        // Rendition names are relative to the base: the stream path in the bucket.
        XCTAssertTrue(manifests.f4m.contains("<media url=\"\(asset)/aac-128\""), manifests.f4m, file: file, line: line)
    }

    /// `serve --rtmp-port P` with a watch folder: the manifests say the host name and P,
    /// and the start says so.
    func testServeGuessesFromTheHostNameAndTheBoundPort() async throws {
        let song = try await TestMedia.shared.path(.shortMP3)
        let root = try temporaryFolder()
        let data = root + "/data", uploads = root + "/uploads"
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        let port = try PeerProcess.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: SluiceProcess.executable)
        process.arguments = ["serve", "--control-port", "0", "--data", data, "--rtmp-port", String(port), "--http-port", "0", "--s3-port=-1"]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SLUICE_") }.merging([
            "SLUICE_WATCH_FOLDER": uploads, "SLUICE_WATCH_PRESET": "audio-only", "SLUICE_WATCH_STABLE_SECONDS": "0.5",
        ]) { $1 }
        let logFile = root + "/serve.log"
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        try process.run()
        defer { process.terminate(); process.waitUntilExit() }
        try FileManager.default.copyItem(atPath: song, toPath: uploads + "/tune.mp3")
        let deadline = Date().addingTimeInterval(90)
        while !FileManager.default.fileExists(atPath: uploads + "/done/tune.mp3") {
            guard Date() < deadline, process.isRunning else {
                XCTFail(try String(contentsOfFile: logFile, encoding: .utf8))
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let expected = "rtmp://\(Self.hostName):\(port)/cfx/st"
        assertBase(expected, try manifests("tune", data: data, root: root), asset: "tune")
        let log = try String(contentsOfFile: logFile, encoding: .utf8)
        XCTAssertTrue(log.contains("manifests point players at \(expected) (guessed from the host name"), log)
    }

    /// `public-url` in sluice.yml is used by `jobs run` and by `encode --data`, and a
    /// `--base-url` flag still wins.
    func testPublicURLSettingIsUsedByJobsAndEncode() async throws {
        let song = try await TestMedia.shared.path(.shortMP3)
        let root = try temporaryFolder()
        let data = root + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try "public-url: rtmp://media.example.com/\n".write(toFile: data + "/sluice.yml", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: song, toPath: root + "/tune.mp3")
        try "inputs: [tune.mp3]\npreset: audio-only\n".write(toFile: root + "/job.yml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try SluiceProcess.run(["jobs", "submit", root + "/job.yml", "--data", data]).status, 0)
        let ran = try SluiceProcess.run(["jobs", "run", "--data", data])
        XCTAssertEqual(ran.status, 0, ran.output)
        // An empty path means the streaming application, cfx/st.
        assertBase("rtmp://media.example.com/cfx/st", try manifests("tune", data: data, root: root), asset: "tune")

        let encoded = try SluiceProcess.run(["encode", root + "/tune.mp3", "--preset", "audio-only", "--out", root + "/encoded", "--data", data])
        XCTAssertEqual(encoded.status, 0, encoded.output)
        let f4m = try String(contentsOfFile: root + "/encoded/tune/tune.f4m", encoding: .utf8)
        XCTAssertTrue(f4m.contains("<baseURL>rtmp://media.example.com/cfx/st</baseURL>"), f4m)

        let flagged = try SluiceProcess.run(["encode", root + "/tune.mp3", "--preset", "audio-only", "--out", root + "/flagged", "--data", data,
                                             "--base-url", "rtmp://other.example.com:1936/cfx/st"])
        XCTAssertEqual(flagged.status, 0, flagged.output)
        let other = try String(contentsOfFile: root + "/flagged/tune/tune.f4m", encoding: .utf8)
        XCTAssertTrue(other.contains("<baseURL>rtmp://other.example.com:1936/cfx/st</baseURL>"), other)
    }
}
