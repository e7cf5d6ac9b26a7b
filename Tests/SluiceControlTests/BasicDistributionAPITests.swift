import Foundation
import SluiceControl
import XCTest

/// Basic (HTTP) distributions through the control API: the whole 2020-05-31
/// DistributionConfig kept and returned, the parts Sluice acts on read from it, the
/// 2009-12-01 shape, and the rules shared with streaming distributions.
final class BasicDistributionAPITests: XCTestCase {
    func api() throws -> ControlAPI {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-basic-api-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let store = try DistributionStore(dataFolder: folder, domainSuffix: "sluice.localhost", s3Domains: []) { ["site", "media", "logs"].contains($0) }
        return ControlAPI(store: store, baseURL: "http://127.0.0.1:8090")
    }

    /// A config as a full client sends it: settings Sluice keeps but does not act on
    /// (a second origin, cache behaviors, error pages, certificate, restrictions) and
    /// every member that is written over on the way out, so that it reads back the same.
    static func config(reference: String = "web-1", aliases: [String] = ["www.example.com"], enabled: Bool = true, rootObject: String = "index.html",
                       signedBehavior: Bool = false) -> String {
        let items = aliases.isEmpty ? "" : "<Items>" + aliases.map { "<CNAME>\($0)</CNAME>" }.joined() + "</Items>"
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <DistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">
              <CallerReference>\(reference)</CallerReference>
              <Aliases><Quantity>\(aliases.count)</Quantity>\(items)</Aliases>
              <DefaultRootObject>\(rootObject)</DefaultRootObject>
              <Origins><Quantity>2</Quantity><Items>
                <Origin><Id>api</Id><DomainName>api.example.com</DomainName><OriginPath></OriginPath>
                  <CustomOriginConfig><HTTPPort>80</HTTPPort><HTTPSPort>443</HTTPSPort><OriginProtocolPolicy>http-only</OriginProtocolPolicy></CustomOriginConfig>
                </Origin>
                <Origin><Id>S3-site</Id><DomainName>site.s3.amazonaws.com</DomainName><OriginPath></OriginPath>
                  <S3OriginConfig><OriginAccessIdentity></OriginAccessIdentity></S3OriginConfig><ConnectionAttempts>3</ConnectionAttempts>
                </Origin>
              </Items></Origins>
              <DefaultCacheBehavior><TargetOriginId>S3-site</TargetOriginId>
                <TrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity></TrustedSigners>
                <ViewerProtocolPolicy>redirect-to-https</ViewerProtocolPolicy><Compress>true</Compress><MinTTL>0</MinTTL>
              </DefaultCacheBehavior>
              <CacheBehaviors><Quantity>1</Quantity><Items><CacheBehavior><PathPattern>/api/*</PathPattern><TargetOriginId>api</TargetOriginId>
                <TrustedSigners><Enabled>\(signedBehavior)</Enabled><Quantity>0</Quantity></TrustedSigners>
                <ViewerProtocolPolicy>https-only</ViewerProtocolPolicy><MinTTL>0</MinTTL></CacheBehavior></Items></CacheBehaviors>
              <CustomErrorResponses><Quantity>1</Quantity><Items><CustomErrorResponse><ErrorCode>404</ErrorCode>
                <ResponsePagePath>/404.html</ResponsePagePath><ResponseCode>404</ResponseCode></CustomErrorResponse></Items></CustomErrorResponses>
              <Comment>the site</Comment>
              <Logging><Enabled>true</Enabled><IncludeCookies>false</IncludeCookies><Bucket>logs.s3.amazonaws.com</Bucket><Prefix>web/</Prefix></Logging>
              <PriceClass>PriceClass_100</PriceClass>
              <Enabled>\(enabled)</Enabled>
              <ViewerCertificate><CloudFrontDefaultCertificate>true</CloudFrontDefaultCertificate><MinimumProtocolVersion>TLSv1</MinimumProtocolVersion></ViewerCertificate>
              <Restrictions><GeoRestriction><RestrictionType>none</RestrictionType><Quantity>0</Quantity></GeoRestriction></Restrictions>
              <HttpVersion>http2</HttpVersion>
              <IsIPV6Enabled>true</IsIPV6Enabled>
            </DistributionConfig>
            """
    }

    func value(_ element: String, in body: String) -> String? {
        guard let start = body.range(of: "<\(element)>"), let end = body.range(of: "</\(element)>", range: start.upperBound..<body.endIndex) else {
            return nil
        }
        return String(body[start.upperBound..<end.lowerBound])
    }

    func testTheWholeConfigIsKeptAndWhatSluiceActsOnIsRead() throws {
        let api = try api()
        let sent = Self.config()
        let created = api.handle(.init(method: "POST", path: "/2020-05-31/distribution", body: Array(sent.utf8)))
        XCTAssertEqual(created.status, 201, created.body)
        let id = try XCTUnwrap(value("Id", in: created.body))
        XCTAssertEqual(created.headers["Location"], "http://127.0.0.1:8090/2020-05-31/distribution/\(id)")
        XCTAssertNotNil(value("DomainName", in: created.body)?.range(of: #"^d[a-z0-9]{13}\.sluice\.localhost$"#, options: .regularExpression),
                        created.body)
        XCTAssertTrue(created.body.contains("<ARN>arn:aws:cloudfront::000000000000:distribution/\(id)</ARN>"), created.body)

        // What it acts on: the S3 origin (not the first, custom one), aliases, root object, logging.
        let stored = try api.store.get(.basic, id)
        XCTAssertEqual(stored.bucket, "site")
        XCTAssertEqual(stored.config.aliases, ["www.example.com"])
        XCTAssertEqual(stored.config.defaultRootObject, "index.html")
        XCTAssertEqual(stored.config.logging, .init(enabled: true, bucket: "logs.s3.amazonaws.com", prefix: "web/"))

        // What it returns reads back as exactly what was sent, the settings it does not act on included.
        let config = api.handle(.init(method: "GET", path: "/2020-05-31/distribution/\(id)/config"))
        XCTAssertEqual(config.status, 200)
        XCTAssertEqual(config.headers["ETag"], created.headers["ETag"])
        for kept in ["<HttpVersion>http2</HttpVersion>", "<PathPattern>/api/*</PathPattern>", "<ResponsePagePath>/404.html</ResponsePagePath>",
                     "<MinimumProtocolVersion>TLSv1</MinimumProtocolVersion>", "<ConnectionAttempts>3</ConnectionAttempts>"] {
            XCTAssertTrue(config.body.contains(kept), "\(kept) is missing from \(config.body)")
        }
        XCTAssertEqual(try BasicDistributionXML.readConfig(Array(config.body.utf8), version: .current),
                       try BasicDistributionXML.readConfig(Array(sent.utf8), version: .current))
        let got = api.handle(.init(method: "GET", path: "/2020-05-31/distribution/\(id)"))
        XCTAssertEqual(value("InProgressInvalidationBatches", in: got.body), "0", got.body)

        // Listed with the summary's members.
        let list = api.handle(.init(method: "GET", path: "/2020-05-31/distribution"))
        XCTAssertEqual(value("Quantity", in: list.body), "1", list.body)
        XCTAssertTrue(list.body.contains("<DistributionSummary><Id>\(id)</Id>"), list.body)
        XCTAssertTrue(list.body.contains("<DomainName>site.s3.amazonaws.com</DomainName>"), list.body)
        XCTAssertFalse(list.body.contains("<CallerReference>"), list.body)
        // A basic distribution is not a streaming one.
        XCTAssertEqual(api.handle(.init(method: "GET", path: "/2020-05-31/streaming-distribution/\(id)")).errorCode, "NoSuchStreamingDistribution")
    }

    func testUpdateDisableAndDelete() throws {
        let api = try api()
        let created = api.handle(.init(method: "POST", path: "/2020-05-31/distribution", body: Array(Self.config().utf8)))
        let id = try XCTUnwrap(value("Id", in: created.body))
        let etag = try XCTUnwrap(created.headers["ETag"])
        XCTAssertEqual(api.handle(.init(method: "DELETE", path: "/2020-05-31/distribution/\(id)", ifMatch: etag)).errorCode, "DistributionNotDisabled")
        let disabled = Array(Self.config(enabled: false, rootObject: "home.html").utf8)
        XCTAssertEqual(api.handle(.init(method: "PUT", path: "/2020-05-31/distribution/\(id)/config", ifMatch: "E0", body: disabled)).status, 412)
        let updated = api.handle(.init(method: "PUT", path: "/2020-05-31/distribution/\(id)/config", ifMatch: etag, body: disabled))
        XCTAssertEqual(updated.status, 200, updated.body)
        XCTAssertEqual(try api.store.get(.basic, id).config.defaultRootObject, "home.html")
        let changedReference = Array(Self.config(reference: "other").utf8)
        XCTAssertEqual(api.handle(.init(method: "PUT", path: "/2020-05-31/distribution/\(id)/config", ifMatch: updated.headers["ETag"],
                                        body: changedReference)).errorCode, "IllegalUpdate")
        XCTAssertEqual(api.handle(.init(method: "DELETE", path: "/2020-05-31/distribution/\(id)", ifMatch: updated.headers["ETag"])).status, 204)
        XCTAssertEqual(api.handle(.init(method: "GET", path: "/2020-05-31/distribution/\(id)")).errorCode, "NoSuchDistribution")
    }

    func testRulesSharedWithStreamingDistributions() throws {
        let api = try api()
        let streaming = StreamingDistributionTests.current(reference: "s", aliases: ["www.example.com"])
        XCTAssertEqual(api.handle(.init(method: "POST", path: "/2020-05-31/streaming-distribution", body: Array(streaming.utf8))).status, 201)
        // One name, one distribution, whatever its kind.
        let taken = api.handle(.init(method: "POST", path: "/2020-05-31/distribution", body: Array(Self.config().utf8)))
        XCTAssertEqual(taken.errorCode, "CNAMEAlreadyExists")
        XCTAssertEqual(taken.status, 409)
        // Signed URLs are not supported: a behavior that asks for them is refused, not served openly.
        let signed = api.handle(.init(method: "POST", path: "/2020-05-31/distribution", body: Array(Self.config(aliases: [], signedBehavior: true).utf8)))
        XCTAssertEqual(signed.errorCode, "InvalidArgument")
        let noOrigin = Self.config(aliases: []).replacingOccurrences(of: "site.s3.amazonaws.com", with: "nothere.s3.amazonaws.com")
        XCTAssertEqual(api.handle(.init(method: "POST", path: "/2020-05-31/distribution", body: Array(noOrigin.utf8))).errorCode, "InvalidOrigin")
        let miscounted = Self.config(aliases: []).replacingOccurrences(of: "<Quantity>2</Quantity>", with: "<Quantity>3</Quantity>")
        XCTAssertEqual(api.handle(.init(method: "POST", path: "/2020-05-31/distribution", body: Array(miscounted.utf8))).errorCode,
                       "InconsistentQuantities")
        XCTAssertEqual(api.handle(.init(method: "POST", path: "/2020-05-31/distribution", body: [])).errorCode, "MissingBody")
        XCTAssertEqual(api.handle(.init(method: "POST", path: "/2020-05-31/distribution", body: Array(streaming.utf8))).errorCode, "MalformedInput")
        // The same caller reference with another config.
        XCTAssertEqual(api.handle(.init(method: "POST", path: "/2020-05-31/distribution", body: Array(Self.config(aliases: []).utf8))).status, 201)
        XCTAssertEqual(api.handle(.init(method: "POST", path: "/2020-05-31/distribution",
                                        body: Array(Self.config(aliases: [], rootObject: "x.html").utf8))).errorCode, "DistributionAlreadyExists")
    }

    /// The 2009-12-01 shape, and what an update through it keeps of a 2020-05-31 config.
    func testTheOriginalShape() throws {
        let api = try api()
        let original = """
            <?xml version="1.0" encoding="UTF-8"?><DistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2009-12-01/">\
            <Origin>site.s3.amazonaws.com</Origin><CallerReference>20091130090000</CallerReference><CNAME>old.example.com</CNAME>\
            <Comment>My comments</Comment><Enabled>true</Enabled></DistributionConfig>
            """
        let created = api.handle(.init(method: "POST", path: "/2009-12-01/distribution", body: Array(original.utf8)))
        XCTAssertEqual(created.status, 201, created.body)
        let id = try XCTUnwrap(value("Id", in: created.body))
        XCTAssertEqual(created.headers["Location"], "http://127.0.0.1:8090/2009-12-01/distribution/\(id)")
        XCTAssertTrue(created.body.contains("<DistributionConfig><Origin>site.s3.amazonaws.com</Origin>"), created.body)
        XCTAssertFalse(created.body.contains("<ARN>"), created.body)
        let list = api.handle(.init(method: "GET", path: "/2009-12-01/distribution"))
        XCTAssertTrue(list.body.contains("<DistributionSummary><Id>\(id)</Id>"), list.body)
        XCTAssertTrue(list.body.contains("<CNAME>old.example.com</CNAME>"), list.body)

        // Made in 2020-05-31 shape (with a root object), updated through 2009-12-01: the
        // root object and the rest of the document stay.
        let current = api.handle(.init(method: "POST", path: "/2020-05-31/distribution", body: Array(Self.config().utf8)))
        let currentID = try XCTUnwrap(value("Id", in: current.body))
        let renamed = """
            <DistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2009-12-01/"><Origin>site.s3.amazonaws.com</Origin>\
            <CallerReference>web-1</CallerReference><CNAME>new.example.com</CNAME><Comment>renamed</Comment><Enabled>true</Enabled>\
            </DistributionConfig>
            """
        let updated = api.handle(.init(method: "PUT", path: "/2009-12-01/distribution/\(currentID)/config", ifMatch: current.headers["ETag"],
                                       body: Array(renamed.utf8)))
        XCTAssertEqual(updated.status, 200, updated.body)
        let now = api.handle(.init(method: "GET", path: "/2020-05-31/distribution/\(currentID)/config"))
        XCTAssertTrue(now.body.contains("<DefaultRootObject>index.html</DefaultRootObject>"), now.body)
        XCTAssertTrue(now.body.contains("<CNAME>new.example.com</CNAME>"), now.body)
        XCTAssertTrue(now.body.contains("<HttpVersion>http2</HttpVersion>"), now.body)
        XCTAssertTrue(now.body.contains("<Comment>renamed</Comment>"), now.body)
    }

    /// One made without a document (`sluice distribution create --basic`) is described
    /// with a minimal config: its S3 origin and a default cache behavior aimed at it.
    func testADistributionMadeWithoutADocument() throws {
        let api = try api()
        let made = try api.store.create(.basic, DistributionConfig(callerReference: "cli", origin: "media", aliases: ["cdn.example.com"],
                                                                   defaultRootObject: "index.html")).distribution
        let config = api.handle(.init(method: "GET", path: "/2020-05-31/distribution/\(made.id)/config"))
        XCTAssertEqual(config.status, 200)
        let read = try BasicDistributionXML.readConfig(Array(config.body.utf8), version: .current)
        XCTAssertEqual(read.origin, "media")
        XCTAssertEqual(read.aliases, ["cdn.example.com"])
        XCTAssertEqual(read.defaultRootObject, "index.html")
        XCTAssertTrue(config.body.contains("<TargetOriginId>S3-media</TargetOriginId>"), config.body)
        XCTAssertTrue(config.body.contains("<S3OriginConfig><OriginAccessIdentity"), config.body)
    }

    /// Documents that could not be written back as read: mixed content is refused;
    /// same-named elements apart from each other come back together, still all there.
    func testDocumentsThatAreHardToWriteBack() throws {
        let mixed = Self.config().replacingOccurrences(of: "<HttpVersion>http2</HttpVersion>", with: "<HttpVersion>http2<Extra/></HttpVersion>")
        XCTAssertThrowsError(try BasicDistributionXML.readConfig(Array(mixed.utf8), version: .current)) { error in
            XCTAssertEqual((error as? ControlError)?.code, "MalformedInput")
        }
        let apart = Self.config().replacingOccurrences(of: "</Origin>\n    <Origin>", with: "</Origin><Note>x</Note><Origin>")
        XCTAssertTrue(apart.contains("<Note>x</Note>"))
        let api = try api()
        let created = api.handle(.init(method: "POST", path: "/2020-05-31/distribution", body: Array(apart.utf8)))
        XCTAssertEqual(created.status, 201, created.body)
        let id = try XCTUnwrap(value("Id", in: created.body))
        let config = api.handle(.init(method: "GET", path: "/2020-05-31/distribution/\(id)/config"))
        XCTAssertEqual(try BasicDistributionXML.readConfig(Array(config.body.utf8), version: .current).origin, "site.s3.amazonaws.com")
        XCTAssertEqual(config.body.components(separatedBy: "<Origin>").count - 1, 2, config.body)
        XCTAssertTrue(config.body.contains("<Note>x</Note>"), config.body)
    }
}
