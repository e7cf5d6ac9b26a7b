import Logging
import SluiceHTTP
import Synchronization
import XCTest

/// Collects log lines for assertions.
final class CapturedLines: Sendable {
    let lines = Mutex<[String]>([])
}

struct CapturingHandler: LogHandler {
    let captured: CapturedLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        captured.lines.withLock { $0.append("\(message)") }
    }
}

final class LimitLogTests: XCTestCase {
    func testOneLinePerKindOfRefusalPerInterval() {
        let captured = CapturedLines()
        let log = LimitLog(logger: Logger(label: "t") { _ in CapturingHandler(captured: captured) }, interval: .seconds(10))
        let start = ContinuousClock.now
        for index in 0..<1000 {
            // Details after the colon differ: still one kind.
            log.closed("client \(index)", reason: "protocol error: detail \(index)", now: start + .milliseconds(index))
        }
        log.closed("client x", reason: "handshake timeout", now: start + .seconds(1))
        XCTAssertEqual(captured.lines.withLock { $0.count }, 2)
        log.closed("client y", reason: "protocol error: late", now: start + .seconds(11))
        let lines = captured.lines.withLock { $0 }
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines[2].contains("and 999 more"), lines[2])
    }

    func testConnectionLimiterCountsPerAddressAndInAll() {
        let limiter = ConnectionLimiter(maximum: 3, maximumPerAddress: 2)
        XCTAssertNil(limiter.admit("a"))
        XCTAssertNil(limiter.admit("a"))
        XCTAssertEqual(limiter.admit("a"), .perAddress(2))
        XCTAssertNil(limiter.admit("b"))
        XCTAssertEqual(limiter.admit("c"), .total(3))
        limiter.release("a")
        XCTAssertNil(limiter.admit("c"))
        XCTAssertEqual(limiter.count, 3)
    }
}
