@testable import SluiceCommandLine
import XCTest

/// The one table of settings and defaults that every command reads.
final class SettingsTableTests: XCTestCase {
    func testEveryKeyIsOnceInTheTableAndNumericDefaultsParse() throws {
        XCTAssertEqual(Set(Settings.knownKeys).count, Settings.knownKeys.count)
        let settings = Settings()
        for definition in Settings.table {
            XCTAssertFalse(definition.shown.isEmpty && definition.value == nil, definition.key)
            guard let value = definition.value else { continue }
            XCTAssertEqual(settings.string(definition.key), value)
            if Int(value) != nil { XCTAssertEqual(try settings.int(definition.key, range: Int.min...Int.max), Int(value)) }
        }
        XCTAssertEqual(settings.describe("http.port").0, "80, or 8080 when 80 cannot be bound")
        XCTAssertEqual(settings.describe("rtmp.port").1, "default")
    }

    func testPublicURLForms() throws {
        XCTAssertEqual(try PublicURL.parse("rtmp://media.example.com", source: "test"), "rtmp://media.example.com/cfx/st")
        XCTAssertEqual(try PublicURL.parse("RTMPT://media.example.com:80/cfx/st/", source: "test"), "rtmpt://media.example.com:80/cfx/st")
        for bad in ["http://media.example.com/", "rtmp://", "media.example.com", "rtmp://a/b?c=1"] {
            XCTAssertThrowsError(try PublicURL.parse(bad, source: "test"), bad)
        }
        let guessed = try PublicURL.resolve(Settings(), rtmpPort: 31935)
        XCTAssertTrue(guessed.guessed)
        XCTAssertTrue(guessed.url.hasSuffix(":31935/cfx/st"), guessed.url)
    }
}
