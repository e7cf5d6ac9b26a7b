import Foundation
import SluiceControl

/// The control API's request documents.
enum ControlTargets {
    /// A config in either API version; one that reads is written out and read back, and
    /// must come back the same (what a client reads is what it sent).
    static let configs = FuzzTarget(name: "control-xml",
                                    summary: "StreamingDistributionConfig and DistributionConfig documents of 2020-05-31 and 2009-12-01",
                                    seeds: ControlSeeds.documents) { bytes in
        streaming(bytes)
        basic(bytes)
    }

    static func streaming(_ bytes: [UInt8]) {
        for version in APIVersion.allCases {
            guard let config = try? StreamingDistributionXML.readConfig(bytes, version: version) else { continue }
            let distribution = Distribution(id: "EFUZZ000000000", kind: .streaming, domainName: "sfuzz.sluice.localhost", config: config,
                                            etag: "E1", status: .deployed, lastModified: Date(timeIntervalSince1970: 0), bucket: "media")
            let written = StreamingDistributionXML.config(distribution, version: version)
            let reread = try? StreamingDistributionXML.readConfig(Array(written.utf8), version: version)
            // XML keeps neither surrounding white space nor, in 2009-12-01, a disabled
            // Logging element: compare what survives a round trip.
            require(reread?.callerReference == config.callerReference.trimmingCharacters(in: .whitespacesAndNewlines),
                    "caller reference changed in a round trip: \(written)")
            require(reread?.aliases.count == config.aliases.count, "aliases changed in a round trip: \(written)")
            _ = StreamingDistributionXML.distribution(distribution, version: version, account: "000000000000")
        }
    }

    /// A basic distribution's config, kept whole: what is written back reads as the same
    /// config (the members Sluice writes over included).
    static func basic(_ bytes: [UInt8]) {
        for version in APIVersion.allCases {
            guard let config = try? BasicDistributionXML.readConfig(bytes, version: version) else { continue }
            let distribution = Distribution(id: "EFUZZ000000000", kind: .basic, domainName: "dfuzz.sluice.localhost", config: config,
                                            etag: "E1", status: .deployed, lastModified: Date(timeIntervalSince1970: 0), bucket: "media")
            let written = BasicDistributionXML.config(distribution, version: version)
            let reread = try? BasicDistributionXML.readConfig(Array(written.utf8), version: version)
            require(reread?.callerReference == config.callerReference.trimmingCharacters(in: .whitespacesAndNewlines),
                    "caller reference changed in a round trip: \(written)")
            require(reread?.aliases.count == config.aliases.count, "aliases changed in a round trip: \(written)")
            if version == .current { require(reread?.origin == config.origin, "the origin changed in a round trip: \(written)") }
            _ = BasicDistributionXML.distribution(distribution, version: version, account: "000000000000")
            _ = BasicDistributionXML.list([distribution], marker: "", nextMarker: nil, maxItems: 1, version: version, account: "000000000000")
        }
    }
}

enum ControlSeeds {
    @Sendable static func documents() -> [[UInt8]] {
        let original = """
            <?xml version="1.0" encoding="UTF-8"?><StreamingDistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2009-12-01/">\
            <Origin>mystreamingbucket.s3.amazonaws.com</Origin><CallerReference>20091130090000</CallerReference><CNAME>a.example.com</CNAME>\
            <Comment>My comments</Comment><Enabled>true</Enabled><Logging><Bucket>logs.s3.amazonaws.com</Bucket><Prefix>x/</Prefix></Logging>\
            </StreamingDistributionConfig>
            """
        let current = """
            <?xml version="1.0" encoding="UTF-8"?><StreamingDistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">\
            <CallerReference>cli-1</CallerReference><S3Origin><DomainName>media.s3.amazonaws.com</DomainName><OriginAccessIdentity/></S3Origin>\
            <Aliases><Quantity>2</Quantity><Items><CNAME>a.example.com</CNAME><CNAME>b.example.com</CNAME></Items></Aliases>\
            <Comment>c</Comment><Logging><Enabled>true</Enabled><Bucket>logs.s3.amazonaws.com</Bucket><Prefix>p/</Prefix></Logging>\
            <TrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity></TrustedSigners><PriceClass>PriceClass_100</PriceClass>\
            <Enabled>false</Enabled></StreamingDistributionConfig>
            """
        let basic = """
            <?xml version="1.0" encoding="UTF-8"?><DistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">\
            <CallerReference>cli-2</CallerReference><Aliases><Quantity>1</Quantity><Items><CNAME>www.example.com</CNAME></Items></Aliases>\
            <DefaultRootObject>index.html</DefaultRootObject><Origins><Quantity>2</Quantity><Items><Origin><Id>api</Id>\
            <DomainName>api.example.com</DomainName><CustomOriginConfig><HTTPPort>80</HTTPPort></CustomOriginConfig></Origin>\
            <Origin><Id>S3-site</Id><DomainName>site.s3.amazonaws.com</DomainName><OriginPath></OriginPath>\
            <S3OriginConfig><OriginAccessIdentity></OriginAccessIdentity></S3OriginConfig></Origin></Items></Origins>\
            <DefaultCacheBehavior><TargetOriginId>S3-site</TargetOriginId><TrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity>\
            </TrustedSigners><ViewerProtocolPolicy>allow-all</ViewerProtocolPolicy><MinTTL>0</MinTTL></DefaultCacheBehavior>\
            <CacheBehaviors><Quantity>0</Quantity></CacheBehaviors><Comment>site</Comment><Logging><Enabled>true</Enabled>\
            <IncludeCookies>false</IncludeCookies><Bucket>logs.s3.amazonaws.com</Bucket><Prefix>web/</Prefix></Logging>\
            <PriceClass>PriceClass_100</PriceClass><Enabled>true</Enabled><HttpVersion>http2</HttpVersion></DistributionConfig>
            """
        let basicOriginal = """
            <?xml version="1.0" encoding="UTF-8"?><DistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2009-12-01/">\
            <Origin>site.s3.amazonaws.com</Origin><CallerReference>20091130090000</CallerReference><CNAME>a.example.com</CNAME>\
            <Comment>My comments</Comment><Enabled>true</Enabled></DistributionConfig>
            """
        return [original, current, basic, basicOriginal].map { Array($0.utf8) }
    }
}
