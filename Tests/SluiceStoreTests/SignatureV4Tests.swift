import Crypto
import Foundation
@testable import SluiceStore
import SluiceTestSupport
import XCTest

/// Signature V4 against the worked examples in Amazon S3's documentation ("Signature
/// Calculations for the Authorization Header" and "Query Parameters", 2013-05-24, the
/// documented example key), which an independent HMAC computation reproduces.
final class SignatureV4Tests: XCTestCase {
    let accessKey = "AKIAIOSFODNN7EXAMPLE"
    let secretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    var secret: (String) -> String? { { [accessKey, secretKey] in $0 == accessKey ? secretKey : nil } }
    let host = ("Host", "examplebucket.s3.amazonaws.com")
    let scope = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"

    func authorization(_ signed: String, _ signature: String) -> (String, String) {
        ("Authorization", "AWS4-HMAC-SHA256 Credential=\(scope),SignedHeaders=\(signed),Signature=\(signature)")
    }

    func testGetObject() throws {
        let request = SignatureV4.Request(method: "GET", path: "/test.txt", headers: [
            host, ("Range", "bytes=0-9"), ("x-amz-content-sha256", SignatureV4.emptyPayloadHash), ("x-amz-date", "20130524T000000Z"),
            authorization("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
        ])
        XCTAssertEqual(try SignatureV4.verify(request, secret: secret).get().accessKey, accessKey)
    }

    func testPutObjectWithAnEncodedKey() throws {
        let request = SignatureV4.Request(method: "PUT", path: "/test%24file.text", headers: [
            host, ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"),
            authorization("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
        ])
        XCTAssertNoThrow(try SignatureV4.verify(request, secret: secret).get())
        // The payload hash is what was signed: another body would not verify.
        var tampered = request
        tampered.headers[4] = ("x-amz-content-sha256", SignatureV4.emptyPayloadHash)
        XCTAssertEqual(SignatureV4.verify(tampered, secret: secret).failure, .signatureDoesNotMatch)
    }

    func testListWithQueryAndWrongSecrets() {
        let request = SignatureV4.Request(method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")], headers: [
            host, ("x-amz-content-sha256", SignatureV4.emptyPayloadHash), ("x-amz-date", "20130524T000000Z"),
            authorization("host;x-amz-content-sha256;x-amz-date", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
        ])
        XCTAssertNoThrow(try SignatureV4.verify(request, secret: secret).get())
        XCTAssertEqual(SignatureV4.verify(request, secret: { _ in "wrong" }).failure, .signatureDoesNotMatch)
        XCTAssertEqual(SignatureV4.verify(request, secret: { _ in nil }).failure, .unknownAccessKey(accessKey))
        var unsigned = request
        unsigned.headers.removeLast()
        if case .malformed = SignatureV4.verify(unsigned, secret: secret).failure {} else { XCTFail("no Authorization must be malformed") }
    }

    func testPresignedURL() {
        let request = SignatureV4.Request(method: "GET", path: "/test.txt", query: [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", scope), ("X-Amz-Date", "20130524T000000Z"),
            ("X-Amz-Expires", "86400"), ("X-Amz-SignedHeaders", "host"),
            ("X-Amz-Signature", "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"),
        ], headers: [host])
        let issued = SignatureV4.date("20130524T000000Z")!
        XCTAssertEqual(try? SignatureV4.verifyPresigned(request, now: issued.addingTimeInterval(3600), secret: secret).get(), accessKey)
        XCTAssertEqual(SignatureV4.verifyPresigned(request, now: issued.addingTimeInterval(86401), secret: secret).failure, .expired)
    }

    func testSignThenVerifyRoundTrip() {
        var request = SignatureV4.Request(method: "PUT", path: "/media/clips/a%20b.flv", query: [("x-id", "PutObject")], headers: [("Host", "127.0.0.1:9000"), ("Content-Type", "video/x-flv")])
        SignatureV4.sign(&request, accessKey: accessKey, secret: secretKey, region: "us-east-1", payloadHash: SignatureV4.unsignedPayload, now: Date())
        XCTAssertNoThrow(try SignatureV4.verify(request, secret: secret).get())
        request.path = "/media/clips/other.flv"
        XCTAssertEqual(SignatureV4.verify(request, secret: secret).failure, .signatureDoesNotMatch)
    }

    func testChunkSignaturesChain() {
        // aws-chunked: each chunk's signature covers the previous one, so chunks cannot be reordered.
        let key = SignatureV4.signingKey(secret: secretKey, scope: .init(date: "20130524", region: "us-east-1", service: "s3"))
        let scope = SignatureV4.Scope(date: "20130524", region: "us-east-1", service: "s3")
        let first = SignatureV4.chunkSignature(key: key, amzDate: "20130524T000000Z", scope: scope, previous: "seed", chunk: Data(repeating: 97, count: 65536))
        let second = SignatureV4.chunkSignature(key: key, amzDate: "20130524T000000Z", scope: scope, previous: first, chunk: Data())
        XCTAssertNotEqual(first, second)
        XCTAssertEqual(first.count, 64)
        XCTAssertEqual(first, SignatureV4.chunkSignature(key: key, amzDate: "20130524T000000Z", scope: scope, previous: "seed", chunk: Data(repeating: 97, count: 65536)))
    }

    /// The control API's verifier checks the service it was signed for, hashes the body
    /// itself, and refuses a date far from now.
    func testAServiceVerifierChecksItsServiceBodyAndTime() throws {
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        let body = Array("<StreamingDistributionConfig/>".utf8)
        func signed(service: String, hash: String) -> SignatureV4.Request {
            var request = SignatureV4.Request(method: "POST", path: "/2020-05-31/streaming-distribution", headers: [("Host", "127.0.0.1:8090")])
            SignatureV4.sign(&request, accessKey: "AK", secret: "SK", region: "us-east-1", service: service, payloadHash: hash, now: now)
            return request
        }
        let hash = SHA256.hash(data: Data(body)).map { String(format: "%02x", $0) }.joined()
        func verify(_ request: SignatureV4.Request, body: [UInt8], at time: Date) -> Result<SignatureV4.Authorization, SignatureV4.Failure> {
            SignatureV4.verify(request, service: "cloudfront", body: body, now: time, allowedSkew: 900) { $0 == "AK" ? "SK" : nil }
        }
        XCTAssertNoThrow(try verify(signed(service: "cloudfront", hash: hash), body: body, at: now).get())
        XCTAssertThrowsError(try verify(signed(service: "s3", hash: hash), body: body, at: now).get())
        XCTAssertEqual(verify(signed(service: "cloudfront", hash: hash), body: body + [0x20], at: now), .failure(.signatureDoesNotMatch))
        XCTAssertEqual(verify(signed(service: "cloudfront", hash: hash), body: body, at: now.addingTimeInterval(3600)), .failure(.expired))
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// Requests signed by botocore (what the AWS CLI and boto3 send) verify here.
final class BotocoreSignatureTests: XCTestCase {
    func testBotocoreSignedRequestsVerify() async throws {
        try SluiceTestSupport.ExternalTool.require("python3")
        let script = """
            import json, sys
            try:
                import botocore.auth, botocore.awsrequest, botocore.credentials
            except ImportError:
                print("NO-BOTOCORE"); sys.exit(0)
            creds = botocore.credentials.Credentials("AKIDSLUICE", "sluice/secret+key")
            out = []
            for method, url, headers, body in [
                ("PUT", "http://127.0.0.1:9000/media/videos/my%20clip%2B1.flv?x-id=PutObject", {"Content-Type": "video/x-flv", "x-amz-acl": "public-read"}, b"FLV..."),
                ("GET", "http://127.0.0.1:9000/media?list-type=2&prefix=videos%2F&delimiter=%2F", {}, b""),
            ]:
                request = botocore.awsrequest.AWSRequest(method=method, url=url, headers=headers, data=body)
                botocore.auth.S3SigV4Auth(creds, "s3", "us-east-1").add_auth(request)
                prepared = request.prepare()
                out.append({"method": method, "url": prepared.url, "headers": dict(prepared.headers)})
            print(json.dumps(out))
            """
        let result = try await SluiceTestSupport.ExternalTool.run(["python3", "-c", script])
        XCTAssertEqual(result.status, 0, result.standardError)
        if result.output.contains("NO-BOTOCORE") {
            if SluiceTestSupport.ExternalTool.isCI { XCTFail("botocore is not installed (pip install boto3)") }
            throw XCTSkip("botocore is not installed (pip install boto3)")
        }
        let requests = try XCTUnwrap(try JSONSerialization.jsonObject(with: result.standardOutput) as? [[String: Any]])
        XCTAssertEqual(requests.count, 2)
        for entry in requests {
            let url = try XCTUnwrap(URLComponents(string: entry["url"] as? String ?? ""))
            let headers = (entry["headers"] as? [String: String] ?? [:]).map { (name: $0.key, value: $0.value) } + [("Host", "127.0.0.1:9000")]
            let request = SignatureV4.Request(method: entry["method"] as? String ?? "", path: url.percentEncodedPath,
                                              query: (url.queryItems ?? []).map { (name: $0.name, value: $0.value ?? "") }, headers: headers)
            let verified = SignatureV4.verify(request, secret: { $0 == "AKIDSLUICE" ? "sluice/secret+key" : nil })
            XCTAssertNoThrow(try verified.get(), "\(entry)")
        }
    }
}
