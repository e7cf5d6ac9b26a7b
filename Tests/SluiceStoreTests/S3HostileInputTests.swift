import Foundation
@testable import SluiceStore
import SluiceHTTP
import SluiceTestSupport
import XCTest

/// The S3 API given the inputs that used to end the server, and the rest of their kind:
/// each gets S3's XML error (or its right answer) and the server goes on.
final class S3HostileInputTests: XCTestCase {
    // MARK: Pure parts

    func testRangesOnEmptyOneByteAndHugeObjects() {
        XCTAssertEqual(ByteRange(header: "bytes=0-", size: 0), .unsatisfiable)
        XCTAssertEqual(ByteRange(header: "bytes=-1", size: 0), .unsatisfiable)
        XCTAssertEqual(ByteRange(header: nil, size: 0), .whole)
        XCTAssertEqual(ByteRange(header: "bytes=0-", size: 1), .partial(0...0))
        XCTAssertEqual(ByteRange(header: "bytes=-0", size: 1), .unsatisfiable)
        XCTAssertEqual(ByteRange(header: "bytes=5-1", size: 10), .whole)
        XCTAssertEqual(ByteRange(header: "bytes=-999999999999", size: 10), .partial(0...9))
        XCTAssertEqual(ByteRange(header: "bytes=-99999999999999999999999", size: 10), .whole)
        XCTAssertEqual(ByteRange(header: "bytes=0-99999999999999999999999", size: 10), .whole)
        XCTAssertEqual(ByteRange(header: "bytes=9223372036854775807-", size: 10), .unsatisfiable)
        XCTAssertEqual(ByteRange(header: "bytes=0-9223372036854775807", size: .max), .partial(0...(Int64.max - 1)))
        XCTAssertEqual(ByteRange(header: "bytes=-9223372036854775807", size: .max), .partial(0...(Int64.max - 1)))
        XCTAssertEqual(ByteRange(header: "bytes=-", size: 10), .whole)
        XCTAssertEqual(ByteRange(header: "bytes=", size: 10), .whole)
    }

    func testPartNumbersAndMaxKeysOutOfRangeAreRefused() {
        let router = S3Router(domains: ["localhost"])
        for number in ["0", "10001", "99999999999999999999", "-1", "1.5", ""] {
            let operation = router.route(method: "PUT", path: "/b/k", query: [("partNumber", number), ("uploadId", "u")], host: nil,
                                         headers: { _ in nil })
            guard case .invalidArgument = operation else { return XCTFail("partNumber \(number): \(operation)") }
        }
        let document = { (number: String) in
            Data("<CompleteMultipartUpload><Part><PartNumber>\(number)</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>".utf8)
        }
        for number in ["0", "10001", "99999999999999999999", "-5"] {
            XCTAssertThrowsError(try S3RequestBody.completedParts(document(number))) { error in
                XCTAssertEqual((error as? S3Error)?.code, "InvalidArgument", number)
            }
        }
        XCTAssertEqual(try S3RequestBody.completedParts(document("10000")).first?.number, 10000)
    }

    func testXMLThatWouldTrapTheParserIsMalformedXML() {
        let documents: [Data] = [
            Data([0x3C, 0xCC, 0xCC, 0x2F, 0x50]),                   // <\xCC\xCC/P: FoundationXML traps on it
            Data("<Delete><Object><Key>\u{FFFD}</Key></Object></Delete>".utf8) + Data([0xFF]),
            Data("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Delete/>".utf8),
            Data("<!DOCTYPE d [<!ENTITY a \"aaaa\">]><Delete><Object><Key>&a;</Key></Object></Delete>".utf8),
            Data(String(repeating: "<a>", count: 100_000).utf8),
            Data(),
        ]
        for document in documents {
            XCTAssertThrowsError(try S3RequestBody.objectsToDelete(document)) { error in
                XCTAssertEqual((error as? S3Error)?.code, "MalformedXML")
            }
        }
        XCTAssertEqual(try S3RequestBody.objectsToDelete(Data("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Object><Key>a</Key></Object></Delete>".utf8)).keys, ["a"])
    }

    /// Foundation's XMLParser leaked an error object for every error in a malformed
    /// document: a 60 KB body of undefined entities leaked 2.7 MB per request.
    func testMalformedDocumentsLeaveNoMemoryBehind() throws {
        func privateKilobytes() -> Int {
            let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("RssAnon:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        let malformed = Data(("<Delete><Object><Key>" + String(repeating: "&x;", count: 20_000) + "</Key></Object></Delete>").utf8)
        XCTAssertNil(S3XMLElement.parse(malformed))
        let before = privateKilobytes()
        for _ in 0..<200 { XCTAssertNil(S3XMLElement.parse(malformed)) }
        XCTAssertLessThan(privateKilobytes() - before, 20_000, "200 malformed documents kept memory")
        XCTAssertEqual(S3XMLElement.parse(Data("<Delete><Quiet>true</Quiet></Delete>".utf8))?.value("Quiet"), "true")
        XCTAssertEqual(S3XMLElement.parse(Data("<a><b>x &amp; y&#33;</b></a>".utf8))?.value("b"), "x & y!")
    }

    func testDatesOutsideTheCalendarAreNotDates() throws {
        for text in ["Wed, 25 Nov -2147483648 10:00:00 GMT", "Wed, 25 Nov 2026 99:00:00 GMT", "Wed, -2147483648 Nov 2026 10:00:00 GMT",
                     "Wed, 25 Nov 2026 10:00:-2147483648 GMT"] {
            XCTAssertNil(S3Date.parseHTTP(text), text)
        }
        for text in ["-2147483648-01-01T00:00:00Z", "2026-11-25T10:00:1e300Z", "2026-11-25T10:00:99Z", "2026-00-25T10:00:00Z"] {
            XCTAssertNil(S3Date.parseISO8601(text), text)
        }
        // x-amz-date: Foundation's DateFormatter trapped on non-ASCII text after the date.
        for text in ["20251124T160000Z\u{5e7}\u{4be}", "20251124T160000", "2025112AT160000Z", "20251324T160000Z", "20251124T250000Z",
                     "+2025124T160000Z", "", "Z", "20251124T16000０Z"] {
            XCTAssertNil(SignatureV4.date(text), text)
        }
        let signed = try XCTUnwrap(SignatureV4.date("20251124T160000Z"))
        XCTAssertEqual(signed.timeIntervalSince1970, 1_764_000_000)
        XCTAssertEqual(SignatureV4.format(signed), "20251124T160000Z")
        XCTAssertEqual(SignatureV4.format(Date(timeIntervalSince1970: 0)), "19700101T000000Z")
        XCTAssertNotNil(S3Date.parseHTTP("Wed, 25 Nov 2026 10:00:00 GMT"))
        XCTAssertNotNil(S3Date.parseISO8601("2026-11-25T10:00:00.500Z"))
    }

    // MARK: Against the server

    static let accessKey = "SLUICEHOSTILE"
    static let secretKey = "hostile/secret"
    var running: S3TestServer!
    var folder: String { running.folder }
    var port: Int { running.port }

    override func setUp() async throws {
        running = try await S3TestServer.start(credentials: [Self.accessKey: Self.secretKey], logLevel: .critical) { store in
            try store.createBucket("media")
        }
    }

    override func tearDown() async throws {
        await running?.stop()
    }

    /// curl's status line and body for a request, signed when `signed`.
    func curl(_ method: String, _ target: String, headers: [(String, String)] = [], body: Data? = nil,
              signed: Bool = false) async throws -> (status: Int, body: String) {
        var all = headers
        if signed {
            var request = SignatureV4.Request(method: method, path: S3Router.splitTarget(target).path, query: S3Router.splitTarget(target).query,
                                              headers: [("host", "127.0.0.1:\(port)")] + headers)
            SignatureV4.sign(&request, accessKey: Self.accessKey, secret: Self.secretKey, region: "us-east-1",
                             payloadHash: SignatureV4.unsignedPayload, now: Date())
            all = request.headers.filter { $0.name != "host" }
        }
        var arguments = ["curl", "-sS", "-g", "-o", "-", "-w", "\n%{http_code}", "-X", method]
        if method == "HEAD" { arguments = ["curl", "-sS", "-g", "-I", "-o", "/dev/null", "-w", "\n%{http_code}"] }
        for (name, value) in all { arguments += ["-H", "\(name): \(value)"] }
        var bodyFile: String?
        if let body {
            let path = folder + "-body-\(UUID().uuidString)"
            try body.write(to: URL(fileURLWithPath: path))
            bodyFile = path
            arguments += ["--data-binary", "@" + path]
        }
        defer { if let bodyFile { try? FileManager.default.removeItem(atPath: bodyFile) } }
        let result = try await ExternalTool.run(arguments + ["http://127.0.0.1:\(port)" + target], timeout: 30)
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    func testNonASCIIAmzDateIsRefusedAndTheServerGoesOn() async throws {
        let authorization = "AWS4-HMAC-SHA256 Credential=\(Self.accessKey)/20251124/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
        let refused = try await curl("GET", "/media?list-type=2", headers: [
            ("Authorization", authorization), ("X-Amz-Date", "20251124T160000Z\u{5e7}\u{4be}"), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ])
        XCTAssertEqual(refused.status, 403, refused.body)
        XCTAssertTrue(refused.body.contains("<Code>"), refused.body)
        let presigned = try await curl("GET", "/media/a.flv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=\(Self.accessKey)%2F20251124%2Fus-east-1%2Fs3%2Faws4_request"
                                       + "&X-Amz-Date=20251124T160000Z%D6%A7%D2%BE&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=00")
        XCTAssertEqual(presigned.status, 400, presigned.body)
        XCTAssertTrue(presigned.body.contains("<Code>AuthorizationHeaderMalformed</Code>"), presigned.body)
        let after = try await curl("GET", "/media?list-type=2", signed: true)
        XCTAssertEqual(after.status, 200, "the server must go on: \(after.body)")
    }

    func testEmptyPublicObjectIsServedAndTheServerGoesOn() async throws {
        try ExternalTool.require("curl")
        let store = try LocalObjectStore(dataFolder: folder)
        _ = try store.putObject(bucket: "media", key: "empty.txt", data: Data(), contentType: "text/plain", acl: .publicRead)
        _ = try store.putObject(bucket: "media", key: "one.txt", data: Data("x".utf8), contentType: "text/plain", acl: .publicRead)

        let whole = try await curl("GET", "/media/empty.txt")
        XCTAssertEqual(whole.status, 200)
        XCTAssertEqual(whole.body, "")
        let head = try await curl("HEAD", "/media/empty.txt")
        XCTAssertEqual(head.status, 200)
        for range in ["bytes=0-", "bytes=-1", "bytes=0-0", "bytes=-0"] {
            let answer = try await curl("GET", "/media/empty.txt", headers: [("Range", range)])
            XCTAssertEqual(answer.status, 416, range)
            XCTAssertTrue(answer.body.contains("<Code>InvalidRange</Code>"), answer.body)
        }
        let ignored = try await curl("GET", "/media/empty.txt", headers: [("Range", "bytes=5-1")])
        XCTAssertEqual(ignored.status, 200)
        let one = try await curl("GET", "/media/one.txt", headers: [("Range", "bytes=-999999999999")])
        XCTAssertEqual(one.status, 206)
        XCTAssertEqual(one.body, "x")

        let negative = try await curl("GET", "/media?max-keys=-1", signed: true)
        XCTAssertEqual(negative.status, 400)
        XCTAssertTrue(negative.body.contains("<Code>InvalidArgument</Code>"), negative.body)
        for number in ["0", "10001", "99999999999999999999"] {
            let part = try await curl("PUT", "/media/big.bin?partNumber=\(number)&uploadId=x", body: Data("x".utf8), signed: true)
            XCTAssertEqual(part.status, 400, "partNumber \(number): \(part.body)")
        }
        let trap = try await curl("POST", "/media?delete", body: Data([0x3C, 0xCC, 0xCC, 0x2F, 0x50]), signed: true)
        XCTAssertEqual(trap.status, 400)
        XCTAssertTrue(trap.body.contains("<Code>MalformedXML</Code>"), trap.body)
        let skewed = try await curl("GET", "/media/one.txt", headers: [("If-Modified-Since", "Wed, 25 Nov -2147483648 10:00:00 GMT")])
        XCTAssertEqual(skewed.status, 200)

        // Still up.
        let still = try await curl("GET", "/media/one.txt")
        XCTAssertEqual(still.body, "x")
    }
}
