import Foundation
import SluiceHTTP
import XCTest

/// Conditional GETs as every HTTP surface answers them (S3 today, basic distributions
/// next), in RFC 9110's order.
final class HTTPConditionsTests: XCTestCase {
    let modified = HTTPDate.parseHTTP("Wed, 25 Nov 2026 10:00:00 GMT")!

    func outcome(_ headers: [String: String]) -> HTTPConditions.Outcome {
        HTTPConditions.evaluate(etag: "abc", lastModified: modified) { headers[$0] }
    }

    func testOrderAndForms() {
        XCTAssertEqual(outcome([:]), .proceed)
        XCTAssertEqual(outcome(["if-none-match": "\"abc\""]), .notModified)
        XCTAssertEqual(outcome(["if-none-match": "W/\"x\", \"abc\""]), .notModified)
        XCTAssertEqual(outcome(["if-none-match": "*"]), .notModified)
        XCTAssertEqual(outcome(["if-none-match": "\"x\""]), .proceed)
        XCTAssertEqual(outcome(["if-match": "\"x\""]), .preconditionFailed)
        XCTAssertEqual(outcome(["if-match": "\"abc\"", "if-none-match": "\"abc\""]), .notModified)
        XCTAssertEqual(outcome(["if-modified-since": "Wed, 25 Nov 2026 10:00:00 GMT"]), .notModified)
        XCTAssertEqual(outcome(["if-modified-since": "Wed, 25 Nov 2026 09:59:59 GMT"]), .proceed)
        // If-None-Match wins over If-Modified-Since.
        XCTAssertEqual(outcome(["if-none-match": "\"x\"", "if-modified-since": "Wed, 25 Nov 2026 10:00:00 GMT"]), .proceed)
        XCTAssertEqual(outcome(["if-unmodified-since": "Wed, 25 Nov 2026 09:00:00 GMT"]), .preconditionFailed)
        // Dates that do not parse are ignored, as the RFC says.
        XCTAssertEqual(outcome(["if-modified-since": "yesterday"]), .proceed)
        XCTAssertEqual(outcome(["if-unmodified-since": "Wed, 99 Nov 2026 10:00:00 GMT"]), .proceed)
    }
}
