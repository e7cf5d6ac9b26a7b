import Foundation
import SluiceControl
import XCTest

/// The control API's requests and answers, without sockets: the original guide's create,
/// then get, config, update, list, delete and their errors, as CloudFront answered them.
final class ControlAPITests: XCTestCase {
    func api() throws -> ControlAPI {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-api-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let store = try DistributionStore(dataFolder: folder, domainSuffix: "sluice.localhost", s3Domains: []) { ["mystreamingbucket", "media"].contains($0) }
        return ControlAPI(store: store, baseURL: "http://127.0.0.1:8090")
    }

    func value(_ element: String, in body: String) -> String? {
        guard let start = body.range(of: "<\(element)>"), let end = body.range(of: "</\(element)>", range: start.upperBound..<body.endIndex) else {
            return nil
        }
        return String(body[start.upperBound..<end.lowerBound])
    }

    func testTheOriginalGuidesConversation() throws {
        let api = try api()
        let created = api.handle(.init(method: "POST", path: "/2009-12-01/streaming-distribution",
                                       body: Array(StreamingDistributionTests.originalExample.utf8)))
        XCTAssertEqual(created.status, 201, created.body)
        let id = try XCTUnwrap(value("Id", in: created.body))
        XCTAssertEqual(created.headers["Location"], "http://127.0.0.1:8090/2009-12-01/streaming-distribution/\(id)")
        let etag = try XCTUnwrap(created.headers["ETag"])
        XCTAssertEqual(value("Status", in: created.body), "InProgress")
        XCTAssertNotNil(value("DomainName", in: created.body)?.range(of: #"^s[a-z0-9]{13}\.sluice\.localhost$"#, options: .regularExpression))

        // The same create again: the same distribution.
        let replay = api.handle(.init(method: "POST", path: "/2009-12-01/streaming-distribution", body: Array(StreamingDistributionTests.originalExample.utf8)))
        XCTAssertEqual(value("Id", in: replay.body), id)

        try api.store.markDeployed(id, etag: etag)
        let got = api.handle(.init(method: "GET", path: "/2009-12-01/streaming-distribution/\(id)"))
        XCTAssertEqual(got.status, 200)
        XCTAssertEqual(value("Status", in: got.body), "Deployed")
        // The time as ISO 8601 with milliseconds, as CloudFront wrote it.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        XCTAssertEqual(value("LastModifiedTime", in: got.body), formatter.string(from: try api.store.get(.streaming, id).lastModified))

        let config = api.handle(.init(method: "GET", path: "/2009-12-01/streaming-distribution/\(id)/config"))
        XCTAssertEqual(config.headers["ETag"], etag)
        XCTAssertTrue(config.body.contains("<Origin>mystreamingbucket.s3.amazonaws.com</Origin>"), config.body)

        // Disable, then delete, each with the ETag it must match.
        let disabled = Array(StreamingDistributionTests.originalExample.replacingOccurrences(of: "<Enabled>true", with: "<Enabled>false").utf8)
        XCTAssertEqual(api.handle(.init(method: "PUT", path: "/2009-12-01/streaming-distribution/\(id)/config", body: disabled)).errorCode,
                       "InvalidIfMatchVersion")
        XCTAssertEqual(api.handle(.init(method: "DELETE", path: "/2009-12-01/streaming-distribution/\(id)", ifMatch: etag)).errorCode,
                       "StreamingDistributionNotDisabled")
        let updated = api.handle(.init(method: "PUT", path: "/2009-12-01/streaming-distribution/\(id)/config", ifMatch: etag, body: disabled))
        XCTAssertEqual(updated.status, 200, updated.body)
        let newTag = try XCTUnwrap(updated.headers["ETag"])
        XCTAssertNotEqual(newTag, etag)
        let stale = api.handle(.init(method: "DELETE", path: "/2009-12-01/streaming-distribution/\(id)", ifMatch: etag))
        XCTAssertEqual(stale.status, 412)
        XCTAssertTrue(stale.body.contains("<Code>PreconditionFailed</Code>"), stale.body)
        XCTAssertTrue(stale.body.contains("xmlns=\"http://cloudfront.amazonaws.com/doc/2009-12-01/\""), stale.body)
        XCTAssertEqual(api.handle(.init(method: "DELETE", path: "/2009-12-01/streaming-distribution/\(id)", ifMatch: newTag)).status, 204)
        let gone = api.handle(.init(method: "GET", path: "/2020-05-31/streaming-distribution/\(id)"))
        XCTAssertEqual(gone.status, 404)
        XCTAssertEqual(gone.errorCode, "NoSuchStreamingDistribution")
    }

    func testListPagesAndBadRequests() throws {
        let api = try api()
        for index in 0..<3 {
            let body = StreamingDistributionTests.current(reference: "r\(index)")
            XCTAssertEqual(api.handle(.init(method: "POST", path: "/2020-05-31/streaming-distribution", body: Array(body.utf8))).status, 201)
        }
        let first = api.handle(.init(method: "GET", path: "/2020-05-31/streaming-distribution", query: ["MaxItems": "2"]))
        XCTAssertEqual(value("IsTruncated", in: first.body), "true", first.body)
        let marker = try XCTUnwrap(value("NextMarker", in: first.body))
        let second = api.handle(.init(method: "GET", path: "/2020-05-31/streaming-distribution", query: ["MaxItems": "2", "Marker": marker]))
        XCTAssertEqual(value("IsTruncated", in: second.body), "false", second.body)
        XCTAssertEqual(value("Quantity", in: second.body), "1", second.body)

        XCTAssertEqual(api.handle(.init(method: "GET", path: "/2020-05-31/streaming-distribution", query: ["MaxItems": "-1"])).errorCode,
                       "InvalidArgument")
        XCTAssertEqual(api.handle(.init(method: "POST", path: "/2020-05-31/streaming-distribution")).errorCode, "MissingBody")
        XCTAssertEqual(api.handle(.init(method: "POST", path: "/2020-05-31/streaming-distribution", body: Array("<x".utf8))).errorCode,
                       "MalformedInput")
        XCTAssertEqual(api.handle(.init(method: "GET", path: "/1999-01-01/streaming-distribution")).status, 404)
        XCTAssertEqual(api.handle(.init(method: "PATCH", path: "/2020-05-31/streaming-distribution")).status, 405)
    }
}
