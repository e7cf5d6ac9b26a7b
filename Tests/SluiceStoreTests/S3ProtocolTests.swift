import Crypto
import Foundation
@testable import SluiceStore
import SluiceHTTP
import XCTest

/// The S3 API's pure parts: checksums, aws-chunked bodies, routing, ranges.
final class S3ProtocolTests: XCTestCase {
    func checksum(_ algorithm: ChecksumAlgorithm, _ text: String) -> String {
        var running = RunningChecksum(algorithm)
        running.update(Data(text.utf8))
        return running.finalize()
    }

    func testChecksumsMatchTheirCheckValues() {
        // The catalogue check values for "123456789", as big-endian base64.
        func base64(_ hex: String) -> String {
            Data(stride(from: 0, to: hex.count, by: 2).map { UInt8(hex.dropFirst($0).prefix(2), radix: 16)! }).base64EncodedString()
        }
        XCTAssertEqual(checksum(.crc32, "123456789"), base64("cbf43926"))
        XCTAssertEqual(checksum(.crc32c, "123456789"), base64("e3069283"))
        XCTAssertEqual(checksum(.crc64nvme, "123456789"), base64("ae8b14860a799888"))
        XCTAssertEqual(checksum(.sha256, ""), Data(SHA256.hash(data: Data())).base64EncodedString())
        // Slicing by 8 agrees with byte at a time across lengths and split points.
        let text = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 7)
        var whole = RunningChecksum(.crc32)
        whole.update(Data(text.utf8))
        var pieces = RunningChecksum(.crc32)
        for piece in [text.prefix(3), text.dropFirst(3).prefix(17), text.dropFirst(20)] { pieces.update(Data(piece.utf8)) }
        XCTAssertEqual(whole.finalize(), pieces.finalize())
        XCTAssertEqual(checksum(.crc32, "The quick brown fox jumps over the lazy dog"), base64("414fa339"))
    }

    /// Amazon S3's worked example of STREAMING-AWS4-HMAC-SHA256-PAYLOAD: 66560 bytes of
    /// 'a' in chunks of 65536 and 1024, with the signatures the documentation prints.
    func awsExampleBody() -> (Data, AWSChunkedDecoder.Signing) {
        let scope = SignatureV4.Scope(date: "20130524", region: "us-east-1", service: "s3")
        let signing = AWSChunkedDecoder.Signing(
            key: SignatureV4.signingKey(secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", scope: scope), amzDate: "20130524T000000Z",
            scope: scope, seedSignature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
        var body = Data()
        body.append(Data("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n".utf8))
        body.append(Data(repeating: 97, count: 65536))
        body.append(Data("\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n".utf8))
        body.append(Data(repeating: 97, count: 1024))
        body.append(Data("\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n".utf8))
        return (body, signing)
    }

    func decode(_ body: Data, signing: AWSChunkedDecoder.Signing?, pieceSize: Int) throws -> (Data, AWSChunkedDecoder) {
        var decoder = AWSChunkedDecoder(signing: signing)
        var output = Data()
        var offset = 0
        while offset < body.count {
            let piece = body[offset..<min(body.count, offset + pieceSize)]
            try piece.withUnsafeBytes { bytes in try decoder.feed(bytes) { output.append(contentsOf: $0) } }
            offset += pieceSize
        }
        return (output, decoder)
    }

    func testSignedChunksOfTheAWSExampleDecode() throws {
        let (body, signing) = awsExampleBody()
        for pieceSize in [1, 7, 4096, body.count] {
            let (output, decoder) = try decode(body, signing: signing, pieceSize: pieceSize)
            XCTAssertEqual(output, Data(repeating: 97, count: 66560))
            XCTAssertTrue(decoder.isComplete)
        }
    }

    func testAlteredOrTruncatedChunksAreRefused() throws {
        let (body, signing) = awsExampleBody()
        var altered = body
        altered[200] = 98
        XCTAssertThrowsError(try decode(altered, signing: signing, pieceSize: 1000)) { error in
            XCTAssertEqual((error as? AWSChunkedDecoder.Failure)?.kind, .signatureDoesNotMatch)
        }
        let (_, decoder) = try decode(body.prefix(body.count - 10), signing: signing, pieceSize: 1000)
        XCTAssertFalse(decoder.isComplete)
        XCTAssertThrowsError(try decode(Data("zz\r\n".utf8), signing: nil, pieceSize: 10))
        XCTAssertThrowsError(try decode(Data("3\r\nabcdef\r\n".utf8), signing: nil, pieceSize: 10), "longer than its size")
    }

    func testUnsignedChunksWithATrailer() throws {
        let body = Data("5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n".utf8)
        let (output, decoder) = try decode(body, signing: nil, pieceSize: 3)
        XCTAssertEqual(String(decoding: output, as: UTF8.self), "hello world")
        XCTAssertEqual(decoder.trailers.first?.name, "x-amz-checksum-crc32")
        XCTAssertEqual(decoder.trailers.first?.value, checksum(.crc32, "hello world"))
    }

    func testRouting() {
        let router = S3Router(domains: ["localhost", "s3.example.com"])
        func route(_ method: String, _ target: String, host: String = "127.0.0.1:9000", headers: [String: String] = [:]) -> S3Operation {
            let parts = target.split(separator: "?", maxSplits: 1)
            return router.route(method: method, path: String(parts[0]), query: parts.count > 1 ? S3Router.parseQuery(parts[1]) : [],
                                host: host, headers: { headers[$0] })
        }
        XCTAssertEqual(route("GET", "/"), .listBuckets)
        XCTAssertEqual(route("PUT", "/media"), .createBucket(bucket: "media"))
        XCTAssertEqual(route("GET", "/media?list-type=2&prefix=a%2Fb"), .listObjects(bucket: "media", version2: true))
        XCTAssertEqual(route("GET", "/media/a%20b/c.flv"), .getObject(bucket: "media", key: "a b/c.flv"))
        XCTAssertEqual(route("GET", "/a/c.flv", host: "media.localhost:9000"), .getObject(bucket: "media", key: "a/c.flv"))
        XCTAssertEqual(route("GET", "/", host: "media.s3.example.com"), .listObjects(bucket: "media", version2: false))
        XCTAssertEqual(route("PUT", "/media/k?partNumber=2&uploadId=U"), .uploadPart(bucket: "media", key: "k", uploadID: "U", partNumber: 2))
        XCTAssertEqual(route("PUT", "/media/k?partNumber=0&uploadId=U"), .invalidArgument("Part number must be an integer between 1 and 10000, inclusive"))
        XCTAssertEqual(route("PUT", "/media/k", headers: ["x-amz-copy-source": "/media/j"]), .copyObject(bucket: "media", key: "k"))
        XCTAssertEqual(route("POST", "/media/k?uploads"), .createMultipartUpload(bucket: "media", key: "k"))
        XCTAssertEqual(route("POST", "/media/k?uploadId=U"), .completeMultipartUpload(bucket: "media", key: "k", uploadID: "U"))
        XCTAssertEqual(route("DELETE", "/media/k?uploadId=U"), .abortMultipartUpload(bucket: "media", key: "k", uploadID: "U"))
        XCTAssertEqual(route("POST", "/media?delete"), .deleteObjects(bucket: "media"))
        XCTAssertEqual(route("PUT", "/media/k?acl"), .putObjectACL(bucket: "media", key: "k"))
        XCTAssertEqual(route("GET", "/media?versions&prefix=a"), .listObjectVersions(bucket: "media"))
        XCTAssertEqual(route("GET", "/media?versioning"), .getBucketVersioning(bucket: "media"))
        XCTAssertEqual(route("PUT", "/media?versioning"), .notImplemented("bucket subresource"))
        XCTAssertEqual(route("GET", "/media/k?versionId=null"), .getObject(bucket: "media", key: "k"))
        XCTAssertEqual(route("DELETE", "/media/k?versionId=null"), .deleteObject(bucket: "media", key: "k"))
        XCTAssertEqual(route("HEAD", "/media/k?versionId=3HL4kqtJ"), .invalidArgument("Invalid version id specified"))
    }

    func testRanges() {
        XCTAssertEqual(ByteRange(header: nil, size: 100), .whole)
        XCTAssertEqual(ByteRange(header: "bytes=0-9", size: 100), .partial(0...9))
        XCTAssertEqual(ByteRange(header: "bytes=90-", size: 100), .partial(90...99))
        XCTAssertEqual(ByteRange(header: "bytes=90-500", size: 100), .partial(90...99))
        XCTAssertEqual(ByteRange(header: "bytes=-10", size: 100), .partial(90...99))
        XCTAssertEqual(ByteRange(header: "bytes=-500", size: 100), .partial(0...99))
        XCTAssertEqual(ByteRange(header: "bytes=100-", size: 100), .unsatisfiable)
        XCTAssertEqual(ByteRange(header: "bytes=0-1,5-6", size: 100), .whole)
        XCTAssertEqual(ByteRange(header: "items=0-1", size: 100), .whole)
    }

    func testHTTPDates() {
        let date = Date(timeIntervalSince1970: 1_764_064_800.25)
        XCTAssertEqual(S3Date.http(date), "Tue, 25 Nov 2025 10:00:00 GMT")
        XCTAssertEqual(S3Date.iso8601(date), "2025-11-25T10:00:00.250Z")
        XCTAssertEqual(S3Date.parseHTTP("Tue, 25 Nov 2025 10:00:00 GMT")?.timeIntervalSince1970, 1_764_064_800)
    }
}

/// Signature Version 2, with the worked examples of Amazon S3's documentation.
final class SignatureV2Tests: XCTestCase {
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

    func testObjectGETExample() {
        let request = SignatureV4.Request(method: "GET", path: "/photos/puppy.jpg",
                                          headers: [("Host", "johnsmith.s3.amazonaws.com"), ("Date", "Tue, 27 Mar 2007 19:36:42 +0000")])
        let text = SignatureV2.stringToSign(request, virtualHostBucket: "johnsmith", dateOrExpires: "Tue, 27 Mar 2007 19:36:42 +0000")
        XCTAssertEqual(text, "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg")
        XCTAssertEqual(SignatureV2.signature(secret: secret, stringToSign: text), "bWq2s1WEIj+Ydj0vQ697zp+IXMU=")
        var signed = request
        signed.headers.append(("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU="))
        XCTAssertEqual(try SignatureV2.verify(signed, virtualHostBucket: "johnsmith", secret: { _ in self.secret }).get(), "AKIAIOSFODNN7EXAMPLE")
    }

    func testPresignedExample() {
        let request = SignatureV4.Request(method: "GET", path: "/photos/puppy.jpg", query: [
            ("AWSAccessKeyId", "AKIAIOSFODNN7EXAMPLE"), ("Expires", "1175139620"), ("Signature", "NpgCjnDzrM+WFzoENXmpNDUsSn8="),
        ], headers: [("Host", "johnsmith.s3.amazonaws.com")])
        let before = Date(timeIntervalSince1970: 1_175_139_000)
        XCTAssertEqual(try SignatureV2.verifyPresigned(request, virtualHostBucket: "johnsmith", now: before, secret: { _ in self.secret }).get(),
                       "AKIAIOSFODNN7EXAMPLE")
        XCTAssertEqual(SignatureV2.verifyPresigned(request, virtualHostBucket: "johnsmith", now: Date(), secret: { _ in self.secret }).failure, .expired)
        XCTAssertEqual(SignatureV2.verifyPresigned(request, virtualHostBucket: "other", now: before, secret: { _ in self.secret }).failure,
                       .signatureDoesNotMatch)
    }
}
