import Foundation
import Logging
import NIOCore
import NIOPosix
import SluiceHTTP
import SluiceRTMP
import SluiceStore
import SluiceTestSupport
import XCTest

/// The limits every HTTP listener applies, checked with raw sockets against the public
/// listener and the S3 API: each broken limit gets its answer (or a quiet close where no
/// answer is owed) and the listener goes on serving.
final class HTTPLimitsTests: XCTestCase {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/http_limits.py").path

    static var testLimits: HTTPLimits {
        var limits = HTTPLimits()
        limits.headTimeout = .seconds(1)
        limits.bodyTimeout = .seconds(1)
        limits.keepAliveTimeout = .seconds(2)
        return limits
    }

    func run(port: Int, _ checks: [String], environment: [String: String] = [:]) async throws -> [String: String] {
        try ExternalTool.require("python3")
        let result = try await ExternalTool.run(["python3", Self.script, String(port)] + checks, timeout: 120, environment: environment)
        XCTAssertEqual(result.status, 0, result.standardError)
        var answers: [String: String] = [:]
        for line in result.output.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { answers[String(parts[0])] = String(parts[1]) }
        }
        return answers
    }

    /// The public listener on a free port with the test limits (and RTMP on it, if given).
    func startPublicListener(rtmp: RTMPServer? = nil) async throws -> Int {
        var logger = Logger(label: "sluice-http-limits")
        logger.logLevel = .critical
        let server = PublicHTTPServer(group: MultiThreadedEventLoopGroup.singleton, logger: logger, limits: Self.testLimits,
                                      maximumConnections: 100, maximumConnectionsPerAddress: 5)
        let port = try await server.start(host: "127.0.0.1", port: 0, rtmp: rtmp)
        addTeardownBlock { await server.shutdown() }
        return port
    }

    func testPublicListenerAnswersEveryBrokenLimit() async throws {
        let port = try await startPublicListener()
        let answers = try await run(port: port, ["ok", "long-uri", "big-headers", "huge-header", "garbage", "bad-request-line",
                                                 "slow-head", "slowloris", "idle-keep-alive", "per-ip-8", "ok"])
        XCTAssertEqual(answers["ok"], "200")
        XCTAssertEqual(answers["long-uri"], "414")
        XCTAssertEqual(answers["big-headers"], "431")
        XCTAssertEqual(answers["huge-header"], "431")
        XCTAssertEqual(answers["garbage"], "400")
        XCTAssertEqual(answers["bad-request-line"], "400")
        XCTAssertEqual(answers["slow-head"], "408")
        XCTAssertEqual(answers["slowloris"], "408")
        XCTAssertEqual(answers["idle-keep-alive"], "closed")
        XCTAssertEqual(answers["per-ip-8"], "3", "5 of 8 connections from one address are kept")
    }

    /// With RTMP sharing the port (the first byte decides), HTTP keeps every limit, RTMPT
    /// polls too (answered on the event loop, pipelined among other requests, in order),
    /// and an RTMP client on the same port still plays.
    func testTheLimitsHoldWhenRTMPSharesThePort() async throws {
        let root = try await TestMedia.shared.bucketRoot([.shortFLV])
        let rtmp = try await TestServer.start(bucketRoot: root)
        addTeardownBlock { await rtmp.stop() }
        let port = try await startPublicListener(rtmp: rtmp.server)
        let answers = try await run(port: port, ["ok", "long-uri", "garbage", "slow-head", "slowloris", "idle-keep-alive", "slow-tunnel-body",
                                                 "big-tunnel-body", "pipelined", "ok"])
        XCTAssertEqual(answers["ok"], "200")
        XCTAssertEqual(answers["slow-tunnel-body"], "408")
        XCTAssertEqual(answers["big-tunnel-body"], "413")
        XCTAssertEqual(answers["pipelined"], "200:policy,200:ident,200:ident,200:session,404:other,200:policy")
        XCTAssertEqual(answers["long-uri"], "414")
        XCTAssertEqual(answers["garbage"], "400")
        XCTAssertEqual(answers["slow-head"], "408")
        XCTAssertEqual(answers["slowloris"], "408")
        XCTAssertEqual(answers["idle-keep-alive"], "closed")
        try ExternalTool.require("rtmpdump")
        let played = try await ExternalTool.run(["timeout", "-s", "KILL", "60", "rtmpdump", "-r", "rtmp://127.0.0.1:\(port)/cfx/st", "-y", "short.flv",
                                                 "-o", "/dev/null"], timeout: 70)
        XCTAssertEqual(played.status, 0, played.standardError)
    }

    func testS3APIAnswersInItsOwnXMLAndDropsStalledBodies() async throws {
        let folder = NSTemporaryDirectory() + "sluice-http-limits-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
        let store = try LocalObjectStore(dataFolder: folder)
        var configuration = S3APIConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.limits = Self.testLimits
        var logger = Logger(label: "sluice-http-limits")
        logger.logLevel = .critical
        let threadPool = NIOThreadPool(numberOfThreads: 1)
        threadPool.start()
        let server = S3APIServer(store: store, users: .administrator(accessKey: "KEY", secretKey: "secret"), configuration: configuration, group: MultiThreadedEventLoopGroup.singleton,
                                 threadPool: threadPool, logger: logger)
        let port = try await server.start()
        addTeardownBlock {
            await server.shutdown()
            try? await threadPool.shutdownGracefully()
        }
        // The stalled upload is signed, so that it gets as far as its body.
        try store.createBucket("media")
        var signed = SignatureV4.Request(method: "PUT", path: "/media/slow.bin", headers: [("host", "127.0.0.1:\(port)")])
        SignatureV4.sign(&signed, accessKey: "KEY", secret: "secret", region: "us-east-1", payloadHash: SignatureV4.unsignedPayload, now: Date())
        let headers = signed.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
        let answers = try await run(port: port, ["long-uri", "garbage", "slow-head", "slow-body", "expect-early-answer"],
                                    environment: ["SLOW_BODY_HEADERS": headers])
        XCTAssertEqual(answers["expect-early-answer"], "403 close", "an unsigned PUT refused before its body")
        XCTAssertEqual(answers["long-uri"], "414")
        XCTAssertEqual(answers["garbage"], "400")
        XCTAssertEqual(answers["slow-head"], "408")
        XCTAssertEqual(answers["slow-body"], "408")
        let body = try await ExternalTool.run(["curl", "-sS", "-g", "http://127.0.0.1:\(port)/" + String(repeating: "a", count: 9000)])
        XCTAssertTrue(body.output.contains("<Code>RequestURITooLong</Code>"), body.output)
        let still = try await ExternalTool.run(["curl", "-sS", "-w", "%{http_code}", "http://127.0.0.1:\(port)/"])
        XCTAssertTrue(still.output.hasSuffix("<Buckets></Buckets></ListAllMyBucketsResult>200"),
                      "anonymous ListBuckets: the API still answers (with no buckets): \(still.output)")
    }
}
