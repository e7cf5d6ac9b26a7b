import Foundation
import SluiceControl
import XCTest

/// Streaming distributions as the control API stores and describes them, in both API
/// versions; the 2009-12-01 example is the original developer guide's.
final class StreamingDistributionTests: XCTestCase {
    let buckets: Set<String> = ["mystreamingbucket", "media", "logs"]

    func store() throws -> DistributionStore {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-control-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let known = buckets
        return try DistributionStore(dataFolder: folder, domainSuffix: "sluice.localhost", s3Domains: ["localhost"]) { known.contains($0) }
    }

    static let originalExample = """
        <?xml version="1.0" encoding="UTF-8"?><StreamingDistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2009-12-01/">\
        <Origin>mystreamingbucket.s3.amazonaws.com</Origin><CallerReference>20091130090000</CallerReference>\
        <Comment>My comments</Comment><Enabled>true</Enabled></StreamingDistributionConfig>
        """

    static func current(reference: String = "ref-1", origin: String = "media.s3.amazonaws.com", aliases: [String] = [], enabled: Bool = true,
                        signers: Bool = false) -> String {
        let items = aliases.isEmpty ? "" : "<Items>" + aliases.map { "<CNAME>\($0)</CNAME>" }.joined() + "</Items>"
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <StreamingDistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">
              <CallerReference>\(reference)</CallerReference>
              <S3Origin><DomainName>\(origin)</DomainName><OriginAccessIdentity></OriginAccessIdentity></S3Origin>
              <Aliases><Quantity>\(aliases.count)</Quantity>\(items)</Aliases>
              <Comment>talks</Comment>
              <TrustedSigners><Enabled>\(signers)</Enabled><Quantity>0</Quantity></TrustedSigners>
              <PriceClass>PriceClass_All</PriceClass>
              <Enabled>\(enabled)</Enabled>
            </StreamingDistributionConfig>
            """
    }

    func config(_ text: String, _ version: APIVersion = .current) throws -> DistributionConfig {
        try StreamingDistributionXML.readConfig(Array(text.utf8), version: version)
    }

    func assertError(_ code: String, _ status: Int, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual((error as? ControlError)?.code, code, "\(error)", file: file, line: line)
            XCTAssertEqual((error as? ControlError)?.status, status, file: file, line: line)
        }
    }

    func testTheOriginalGuidesExampleCreatesADistribution() throws {
        let store = try store()
        let parsed = try config(Self.originalExample, .original)
        XCTAssertEqual(parsed, DistributionConfig(callerReference: "20091130090000", origin: "mystreamingbucket.s3.amazonaws.com",
                                                  comment: "My comments"))
        let (made, created) = try store.create(.streaming, parsed)
        XCTAssertTrue(created)
        XCTAssertEqual(made.bucket, "mystreamingbucket")
        XCTAssertEqual(made.status, .inProgress)
        XCTAssertNotNil(made.id.range(of: "^E[A-Z0-9]{13}$", options: .regularExpression), made.id)
        XCTAssertNotNil(made.domainName.range(of: #"^s[a-z0-9]{13}\.sluice\.localhost$"#, options: .regularExpression), made.domainName)

        let answer = StreamingDistributionXML.distribution(made, version: .original, account: "000000000000")
        XCTAssertTrue(answer.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"), answer)
        XCTAssertTrue(answer.contains("<StreamingDistribution xmlns=\"http://cloudfront.amazonaws.com/doc/2009-12-01/\">"), answer)
        for element in ["<Id>\(made.id)</Id>", "<Status>InProgress</Status>", "<DomainName>\(made.domainName)</DomainName>",
                        "<Origin>mystreamingbucket.s3.amazonaws.com</Origin>", "<CallerReference>20091130090000</CallerReference>",
                        "<Comment>My comments</Comment>", "<Enabled>true</Enabled>"] {
            XCTAssertTrue(answer.contains(element), "\(element) in \(answer)")
        }
        XCTAssertFalse(answer.contains("S3Origin"), "2009-12-01 has a flat Origin: \(answer)")
        // The answer reads back as the config that made it.
        let echoed = try XCTUnwrap(answer.range(of: "<StreamingDistributionConfig>")).lowerBound
        let configText = String(answer[echoed...].dropLast("</StreamingDistribution>".count))
        XCTAssertEqual(try config(configText, .original), parsed)

        try store.markDeployed(made.id, etag: made.etag)
        XCTAssertEqual(try store.get(.streaming, made.id).status, .deployed)
    }

    func testCallerReferenceMakesCreateIdempotent() throws {
        let store = try store()
        let first = try store.create(.streaming, try config(Self.current()))
        let again = try store.create(.streaming, try config(Self.current()))
        XCTAssertFalse(again.created)
        XCTAssertEqual(again.distribution, first.distribution)
        assertError("StreamingDistributionAlreadyExists", 409) { _ = try store.create(.streaming, try config(Self.current(origin: "logs"))) }
    }

    func testUpdateAndDeleteFollowIfMatchAndTheDisabledRule() throws {
        let store = try store()
        let made = try store.create(.streaming, try config(Self.current())).distribution
        let disabled = try config(Self.current(enabled: false))
        assertError("InvalidIfMatchVersion", 400) { _ = try store.update(.streaming, made.id, disabled, ifMatch: nil) }
        assertError("PreconditionFailed", 412) { _ = try store.update(.streaming, made.id, disabled, ifMatch: "ESTALE") }
        assertError("IllegalUpdate", 400) { _ = try store.update(.streaming, made.id, try config(Self.current(reference: "other")), ifMatch: made.etag) }
        assertError("StreamingDistributionNotDisabled", 409) { try store.delete(.streaming, made.id, ifMatch: made.etag) }
        let updated = try store.update(.streaming, made.id, disabled, ifMatch: made.etag)
        XCTAssertNotEqual(updated.etag, made.etag, "every change gets a new ETag")
        XCTAssertEqual(updated.status, .inProgress)
        assertError("PreconditionFailed", 412) { try store.delete(.streaming, made.id, ifMatch: made.etag) }
        try store.delete(.streaming, made.id, ifMatch: updated.etag)
        assertError("NoSuchStreamingDistribution", 404) { _ = try store.get(.streaming, made.id) }
    }

    func testCNAMEsAreUniqueAndOriginsNameExistingBuckets() throws {
        let store = try store()
        _ = try store.create(.streaming, try config(Self.current(aliases: ["video.example.com"])))
        assertError("CNAMEAlreadyExists", 409) {
            _ = try store.create(.streaming, try config(Self.current(reference: "ref-2", aliases: ["VIDEO.example.com"])))
        }
        assertError("InvalidOrigin", 400) { _ = try store.create(.streaming, try config(Self.current(reference: "ref-3", origin: "nope.s3.amazonaws.com"))) }
        assertError("InvalidArgument", 400) { _ = try store.create(.streaming, try config(Self.current(reference: "ref-4", signers: true))) }
        for origin in ["media", "media.s3.amazonaws.com", "media.s3.eu-west-1.amazonaws.com", "media.s3-eu-west-1.amazonaws.com", "media.localhost",
                       "MEDIA.S3.AMAZONAWS.COM"] {
            XCTAssertEqual(OriginName.bucket(origin, s3Domains: ["localhost"]), "media", origin)
        }
    }

    func testListPagesWithMarkerAndMaxItems() throws {
        let store = try store()
        var ids: [String] = []
        for index in 0..<5 { ids.append(try store.create(.streaming, try config(Self.current(reference: "ref-\(index)"))).distribution.id) }
        ids.sort()
        let first = try store.list(.streaming, marker: nil, maxItems: 2)
        XCTAssertEqual(first.items.map(\.id), Array(ids[0..<2]))
        XCTAssertEqual(first.nextMarker, ids[1])
        let rest = try store.list(.streaming, marker: first.nextMarker, maxItems: 10)
        XCTAssertEqual(rest.items.map(\.id), Array(ids[2...]))
        XCTAssertNil(rest.nextMarker)
        let text = StreamingDistributionXML.list(first.items, marker: "", nextMarker: first.nextMarker, maxItems: 2, version: .current,
                                                 account: "000000000000")
        for element in ["<IsTruncated>true</IsTruncated>", "<NextMarker>\(ids[1])</NextMarker>", "<Quantity>2</Quantity>",
                        "<StreamingDistributionSummary>", "<MaxItems>2</MaxItems>"] {
            XCTAssertTrue(text.contains(element), "\(element) in \(text)")
        }
    }

    func testBadDocumentsGetCloudFrontsErrors() throws {
        assertError("MissingBody", 400) { _ = try config("") }
        assertError("MalformedInput", 400) { _ = try config("<StreamingDistributionConfig><CallerReference>") }
        assertError("MalformedInput", 400) { _ = try config("<Other/>") }
        assertError("MalformedInput", 400) { _ = try config(Self.current().replacingOccurrences(of: "<Enabled>true</Enabled>", with: "<Enabled>yes</Enabled>")) }
        assertError("InconsistentQuantities", 400) {
            _ = try config(Self.current(aliases: ["a.example.com"]).replacingOccurrences(of: "<Quantity>1</Quantity>", with: "<Quantity>2</Quantity>"))
        }
        // What reads back is what was sent, also with characters XML escapes.
        let odd = try config(Self.current(reference: "a&amp;b&lt;&#13;&#10;c\"'"))
        XCTAssertEqual(odd.callerReference, "a&b<\r\nc\"'")
        let made = Distribution(id: "E1", kind: .streaming, domainName: "s.example", config: odd, etag: "E2", status: .deployed,
                                lastModified: Date(), bucket: "media")
        XCTAssertEqual(try config(StreamingDistributionXML.config(made, version: .current)), odd)
        let deep = String(repeating: "<a>", count: 40) + String(repeating: "</a>", count: 40)
        assertError("MalformedInput", 400) { _ = try config(deep) }
        let error = ControlError("PreconditionFailed", 412, "stale")
        let document = error.document(version: .current, requestID: "abc")
        XCTAssertTrue(document.contains("<ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">"), document)
        XCTAssertTrue(document.contains("<Code>PreconditionFailed</Code>") && document.contains("<RequestId>abc</RequestId>"), document)
    }
}
