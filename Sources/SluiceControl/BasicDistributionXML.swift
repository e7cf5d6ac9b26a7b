import Foundation
import SluiceXML

// The documents as they are on the wire; property names are the element names.
// swiftlint:disable identifier_name

/// `Distribution`, the answer to create, get and update.
struct BasicDistributionDocument: Encodable {
    var Id: String
    var ARN: String?
    var Status: String
    var LastModifiedTime: String
    var InProgressInvalidationBatches: Int?
    var DomainName: String
    var ActiveTrustedSigners: StreamingDistributionDocument.ActiveTrustedSigners?
    var ActiveTrustedKeyGroups: StreamingDistributionDocument.ActiveTrustedSigners?
    var DistributionConfig: VersionedConfig<ConfigTreeElement>
}

/// `DistributionList`.
struct BasicDistributionListDocument: Encodable {
    var Marker: String
    var NextMarker: String?
    var MaxItems: Int
    var IsTruncated: Bool
    var Quantity: Int?
    var Items: Items?
    /// 2009-12-01 repeats the summaries directly under the list.
    var DistributionSummary: [StreamingDistributionListDocument.OriginalSummary]?

    struct Items: Encodable {
        var DistributionSummary: [ConfigTreeElement]
    }
}

// swiftlint:enable identifier_name

/// The basic (HTTP) distribution documents. Of the 2020-05-31 `DistributionConfig` Sluice
/// acts on the first S3 origin, `Aliases`, `Enabled`, `DefaultRootObject` and `Logging`;
/// the rest is kept as sent and returned.
public enum BasicDistributionXML {
    /// `DistributionConfig`'s members in the model's order (where a missing one goes).
    static let configOrder = ["CallerReference", "Aliases", "DefaultRootObject", "Origins", "OriginGroups", "DefaultCacheBehavior",
                              "CacheBehaviors", "CustomErrorResponses", "Comment", "Logging", "PriceClass", "Enabled", "ViewerCertificate",
                              "Restrictions", "WebACLId", "HttpVersion", "IsIPV6Enabled"]
    /// What a `DistributionSummary` repeats of the config, in its order.
    static let summaryMembers = ["Aliases", "Origins", "OriginGroups", "DefaultCacheBehavior", "CacheBehaviors", "CustomErrorResponses",
                                 "Comment", "PriceClass", "Enabled", "ViewerCertificate", "Restrictions", "WebACLId", "HttpVersion",
                                 "IsIPV6Enabled"]

    /// The config in a create or update body.
    public static func readConfig(_ body: [UInt8], version: APIVersion) throws(ControlError) -> DistributionConfig {
        let root = try ConfigReader.root(of: body)
        switch version {
        case .current: return try readCurrent(root)
        case .original: return try OriginalConfigDocument.read(root, kind: .basic)
        }
    }

    static func readCurrent(_ root: XMLTree) throws(ControlError) -> DistributionConfig {
        guard root.name == "DistributionConfig" else { throw .malformed("the document is not a DistributionConfig") }
        let callerReference = try ConfigReader.required(root, "CallerReference")
        let origins = try ConfigReader.elements(root.child("Origins"), of: "Origin", what: "Origins")
        guard let origin = origins.first(where: { $0.child("S3OriginConfig") != nil }) ?? origins.first else {
            throw .malformed("Origins needs at least one Origin")
        }
        let domain = try ConfigReader.required(origin, "DomainName")
        guard root.child("DefaultCacheBehavior") != nil else { throw .malformed("DefaultCacheBehavior is missing") }
        let logging = try ConfigReader.logging(root.child("Logging"))
        // Signed URLs and cookies are not supported: a behavior that asks for them would
        // otherwise serve to anyone what its owner meant to restrict.
        var restricted = false
        for element in root.descendants("TrustedSigners") + root.descendants("TrustedKeyGroups") {
            if try ConfigReader.bool(element, "Enabled") { restricted = true }
        }
        let rootObject = root.value("DefaultRootObject") ?? ""
        return DistributionConfig(callerReference: callerReference, origin: domain,
                                  aliases: try ConfigReader.list(root.child("Aliases"), of: "CNAME", what: "Aliases"),
                                  comment: root.value("Comment") ?? "", enabled: try ConfigReader.bool(root, "Enabled"), logging: logging,
                                  trustedSignersEnabled: restricted, priceClass: root.value("PriceClass"),
                                  defaultRootObject: rootObject.isEmpty ? nil : rootObject, document: try ConfigTree.read(root))
    }

    /// The 2020-05-31 config as returned: the document the client sent (or, for one made
    /// another way, a minimal one with an S3 origin and a default cache behavior), with
    /// what Sluice acts on written over it.
    static func currentConfig(_ config: DistributionConfig, bucket: String) -> ConfigTree {
        var tree = config.document ?? skeleton(config, bucket: bucket)
        tree.name = "DistributionConfig"
        tree.set(.leaf("CallerReference", config.callerReference), order: configOrder)
        tree.set(.list("Aliases", config.aliases.map { .leaf("CNAME", $0) }), order: configOrder)
        tree.set(.leaf("DefaultRootObject", config.defaultRootObject ?? ""), order: configOrder)
        if var origins = tree.child("Origins"), let itemsIndex = origins.children.firstIndex(where: { $0.name == "Items" }) {
            var items = origins.children[itemsIndex]
            // The origin the reader acts on: the first S3 origin, else the first origin.
            let candidates = items.children.indices.filter { items.children[$0].name == "Origin" }
            if let acted = candidates.first(where: { items.children[$0].child("S3OriginConfig") != nil }) ?? candidates.first {
                items.children[acted].set(.leaf("DomainName", config.origin), order: ["Id", "DomainName"])
                origins.children[itemsIndex] = items
                tree.set(origins, order: configOrder)
            }
        }
        tree.set(.leaf("Comment", config.comment), order: configOrder)
        let includeCookies = tree.child("Logging")?.child("IncludeCookies")?.text == "true"
        tree.set(ConfigTree(name: "Logging", children: [
            .leaf("Enabled", config.logging?.enabled ?? false), .leaf("IncludeCookies", includeCookies),
            .leaf("Bucket", config.logging?.bucket ?? ""), .leaf("Prefix", config.logging?.prefix ?? ""),
        ]), order: configOrder)
        tree.set(.leaf("PriceClass", config.priceClass ?? "PriceClass_All"), order: configOrder)
        tree.set(.leaf("Enabled", config.enabled), order: configOrder)
        return tree
    }

    /// What the AWS CLI's `create-distribution --origin-domain-name` would have sent.
    static func skeleton(_ config: DistributionConfig, bucket: String) -> ConfigTree {
        let originID = "S3-\(bucket)"
        let origin = ConfigTree(name: "Origin", children: [
            .leaf("Id", originID), .leaf("DomainName", config.origin), .leaf("OriginPath", ""), .list("CustomHeaders", []),
            ConfigTree(name: "S3OriginConfig", children: [.leaf("OriginAccessIdentity", "")]),
        ])
        let behavior = ConfigTree(name: "DefaultCacheBehavior", children: [
            .leaf("TargetOriginId", originID),
            ConfigTree(name: "TrustedSigners", children: [.leaf("Enabled", false), .leaf("Quantity", 0)]),
            ConfigTree(name: "TrustedKeyGroups", children: [.leaf("Enabled", false), .leaf("Quantity", 0)]),
            .leaf("ViewerProtocolPolicy", "allow-all"),
            ConfigTree(name: "ForwardedValues", children: [
                .leaf("QueryString", false), ConfigTree(name: "Cookies", children: [.leaf("Forward", "none")]),
            ]),
            .leaf("MinTTL", 0),
        ])
        return ConfigTree(name: "DistributionConfig", children: [.list("Origins", [origin]), behavior])
    }

    static func configElement(_ distribution: Distribution, version: APIVersion) -> VersionedConfig<ConfigTreeElement> {
        version == .current ? .current(ConfigTreeElement(tree: currentConfig(distribution.config, bucket: distribution.bucket)))
            : .original(OriginalConfigDocument(distribution.config))
    }

    /// `Distribution`: the answer to create, get and update.
    public static func distribution(_ distribution: Distribution, version: APIVersion, account: String) -> String {
        let current = version == .current
        let inactive = StreamingDistributionDocument.ActiveTrustedSigners(Enabled: false, Quantity: 0)
        let document = BasicDistributionDocument(
            Id: distribution.id, ARN: current ? "arn:aws:cloudfront::\(account):distribution/\(distribution.id)" : nil,
            Status: distribution.status.rawValue, LastModifiedTime: StreamingDistributionXML.time(distribution.lastModified),
            InProgressInvalidationBatches: current ? 0 : nil, DomainName: distribution.domainName,
            ActiveTrustedSigners: current ? inactive : nil, ActiveTrustedKeyGroups: current ? inactive : nil,
            DistributionConfig: configElement(distribution, version: version))
        return ControlXML.encode(document, root: "Distribution", version: version)
    }

    /// `DistributionConfig`: the answer to GetConfig.
    public static func config(_ distribution: Distribution, version: APIVersion) -> String {
        ControlXML.encode(configElement(distribution, version: version), root: "DistributionConfig", version: version)
    }

    /// `DistributionList`.
    public static func list(_ items: [Distribution], marker: String, nextMarker: String?, maxItems: Int, version: APIVersion,
                            account: String) -> String {
        var document = BasicDistributionListDocument(Marker: marker, NextMarker: nextMarker, MaxItems: maxItems, IsTruncated: nextMarker != nil)
        switch version {
        case .current:
            document.Quantity = items.count
            document.Items = items.isEmpty ? nil : .init(DistributionSummary: items.map { ConfigTreeElement(tree: summary($0, account: account)) })
        case .original:
            document.DistributionSummary = items.map { item in
                .init(Id: item.id, Status: item.status.rawValue, LastModifiedTime: StreamingDistributionXML.time(item.lastModified),
                      DomainName: item.domainName, Origin: item.config.origin, CNAME: item.config.aliases.isEmpty ? nil : item.config.aliases,
                      Comment: item.config.comment, Enabled: item.config.enabled)
            }
        }
        return ControlXML.encode(document, root: "DistributionList", version: version)
    }

    /// A `DistributionSummary`: the distribution's identity, then the config's members
    /// that the summary repeats.
    static func summary(_ item: Distribution, account: String) -> ConfigTree {
        let config = currentConfig(item.config, bucket: item.bucket)
        let identity: [ConfigTree] = [
            .leaf("Id", item.id), .leaf("ARN", "arn:aws:cloudfront::\(account):distribution/\(item.id)"), .leaf("ETag", item.etag),
            .leaf("Status", item.status.rawValue), .leaf("LastModifiedTime", StreamingDistributionXML.time(item.lastModified)),
            .leaf("DomainName", item.domainName),
        ]
        return ConfigTree(name: "DistributionSummary", children: identity + summaryMembers.compactMap { config.child($0) })
    }
}
