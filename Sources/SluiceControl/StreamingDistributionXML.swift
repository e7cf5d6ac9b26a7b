import Foundation
import SluiceXML
import XMLCoder

/// The versions of the control API Sluice answers: today's (what the AWS CLI and SDKs
/// send) and the first one with streaming distributions (what the original guide shows).
public enum APIVersion: String, Sendable, CaseIterable {
    case current = "2020-05-31"
    case original = "2009-12-01"

    public var namespace: String { "http://cloudfront.amazonaws.com/doc/\(rawValue)/" }
}

// The documents as they are on the wire; property names are the element names.
// swiftlint:disable identifier_name

/// `StreamingDistributionConfig` of 2020-05-31.
struct StreamingConfigDocument: Encodable {
    var CallerReference: String
    var S3Origin: S3OriginElement
    var Aliases: AliasesElement?
    var Comment: String?
    var Logging: LoggingElement?
    var TrustedSigners: TrustedSignersElement?
    var PriceClass: String?
    var Enabled: Bool

    struct S3OriginElement: Encodable {
        var DomainName: String
        var OriginAccessIdentity: String?
    }

    struct AliasesElement: Encodable {
        var Quantity: Int
        var Items: Items?
        struct Items: Encodable { var CNAME: [String] }
    }

    struct LoggingElement: Encodable {
        var Enabled: Bool
        var Bucket: String?
        var Prefix: String?
    }

    struct TrustedSignersElement: Encodable {
        var Enabled: Bool
        var Quantity: Int
        var Items: Items?
        struct Items: Encodable { var AwsAccountNumber: [String] }
    }

    init(_ config: DistributionConfig) {
        CallerReference = config.callerReference
        S3Origin = S3OriginElement(DomainName: config.origin, OriginAccessIdentity: "")
        Aliases = AliasesElement(Quantity: config.aliases.count, Items: config.aliases.isEmpty ? nil : .init(CNAME: config.aliases))
        Comment = config.comment
        Logging = LoggingElement(Enabled: config.logging?.enabled ?? false, Bucket: config.logging?.bucket ?? "",
                                 Prefix: config.logging?.prefix ?? "")
        TrustedSigners = TrustedSignersElement(Enabled: config.trustedSignersEnabled, Quantity: 0, Items: nil)
        PriceClass = config.priceClass ?? "PriceClass_All"
        Enabled = config.enabled
    }

    /// The config a client sent, read from its document.
    static func read(_ root: XMLTree) throws(ControlError) -> DistributionConfig {
        guard root.name == "StreamingDistributionConfig" else { throw .malformed("the document is not a StreamingDistributionConfig") }
        let callerReference = try ConfigReader.required(root, "CallerReference")
        guard let origin = root.child("S3Origin") else { throw .malformed("S3Origin is missing") }
        let domain = try ConfigReader.required(origin, "DomainName")
        let aliases = try ConfigReader.list(root.child("Aliases"), of: "CNAME", what: "Aliases")
        // Checked for consistency only: signed URLs are refused (see the store).
        _ = try ConfigReader.list(root.child("TrustedSigners"), of: "AwsAccountNumber", what: "TrustedSigners")
        let logging = try ConfigReader.logging(root.child("Logging"))
        let trusted = try root.child("TrustedSigners").map { (element) throws(ControlError) in try ConfigReader.bool(element, "Enabled") } ?? false
        return DistributionConfig(callerReference: callerReference, origin: domain, aliases: aliases, comment: root.value("Comment") ?? "",
                                  enabled: try ConfigReader.bool(root, "Enabled"), logging: logging, trustedSignersEnabled: trusted,
                                  priceClass: root.value("PriceClass"))
    }
}

/// `StreamingDistributionConfig` and `DistributionConfig` of 2009-12-01: a flat origin and
/// repeated `CNAME`, the same for both kinds.
struct OriginalConfigDocument: Encodable {
    var Origin: String
    var CallerReference: String
    var CNAME: [String]?
    var Comment: String?
    var Enabled: Bool
    var Logging: LoggingElement?

    struct LoggingElement: Encodable {
        var Bucket: String
        var Prefix: String?
    }

    init(_ config: DistributionConfig) {
        Origin = config.origin
        CallerReference = config.callerReference
        CNAME = config.aliases.isEmpty ? nil : config.aliases
        Comment = config.comment
        Enabled = config.enabled
        Logging = config.logging.flatMap { $0.enabled ? LoggingElement(Bucket: $0.bucket, Prefix: $0.prefix) : nil }
    }

    static func read(_ root: XMLTree, kind: DistributionKind) throws(ControlError) -> DistributionConfig {
        let expected = kind == .streaming ? "StreamingDistributionConfig" : "DistributionConfig"
        guard root.name == expected else { throw .malformed("the document is not a \(expected)") }
        let logging = root.child("Logging").map {
            DistributionConfig.Logging(enabled: true, bucket: $0.value("Bucket") ?? "", prefix: $0.value("Prefix") ?? "")
        }
        return DistributionConfig(callerReference: try ConfigReader.required(root, "CallerReference"),
                                  origin: try ConfigReader.required(root, "Origin"),
                                  aliases: root.all("CNAME").map { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) },
                                  comment: root.value("Comment") ?? "", enabled: try ConfigReader.bool(root, "Enabled"), logging: logging)
    }
}

/// Values out of a config document, with CloudFront's errors for what is wrong.
enum ConfigReader {
    /// A config's lists hold a few hundred items at most (aliases).
    static let maximumItems = 1000

    /// The root element of a create or update body.
    static func root(of body: [UInt8]) throws(ControlError) -> XMLTree {
        guard !body.isEmpty else { throw .missingBody }
        guard let root = XMLTree.parse(Data(body)) else {
            throw .malformed("The XML document is not well-formed, or nests deeper than \(XMLTree.maximumDepth) elements.")
        }
        return root
    }

    /// `<Logging><Enabled/><Bucket/><Prefix/></Logging>` of 2020-05-31. Logging off with
    /// nothing named is the same config as no Logging at all (which is how it is written back).
    static func logging(_ element: XMLTree?) throws(ControlError) -> DistributionConfig.Logging? {
        guard let element else { return nil }
        let logging = DistributionConfig.Logging(enabled: try bool(element, "Enabled"), bucket: element.value("Bucket") ?? "",
                                                 prefix: element.value("Prefix") ?? "")
        return logging == DistributionConfig.Logging(enabled: false, bucket: "", prefix: "") ? nil : logging
    }

    static func required(_ element: XMLTree, _ name: String) throws(ControlError) -> String {
        guard let value = element.value(name), !value.isEmpty else { throw .malformed("\(name) is missing") }
        return value
    }

    static func bool(_ element: XMLTree, _ name: String) throws(ControlError) -> Bool {
        switch element.value(name) {
        case "true": return true
        case "false": return false
        case nil: throw .malformed("\(name) is missing")
        case let other?: throw .malformed("\(name) must be true or false, not '\(other.prefix(40))'")
        }
    }

    /// `<Quantity>N</Quantity><Items><NAME>…</NAME>…</Items>`: the texts, count checked.
    static func list(_ element: XMLTree?, of name: String, what: String) throws(ControlError) -> [String] {
        try elements(element, of: name, what: what).map { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// The same list's elements.
    static func elements(_ element: XMLTree?, of name: String, what: String) throws(ControlError) -> [XMLTree] {
        guard let element else { return [] }
        guard let text = element.value("Quantity"), let quantity = Int(text), quantity >= 0 else {
            throw .malformed("\(what) needs a Quantity")
        }
        let items = element.child("Items")?.all(name) ?? []
        guard items.count <= maximumItems else { throw .invalidArgument("\(what) has more than \(maximumItems) items") }
        guard quantity == items.count else { throw .inconsistentQuantities("\(what) has Quantity \(quantity) and \(items.count) items") }
        return items
    }
}

/// `StreamingDistribution`, the answer to create, get and update.
struct StreamingDistributionDocument: Encodable {
    var Id: String
    var ARN: String?
    var Status: String
    var LastModifiedTime: String
    var DomainName: String
    var ActiveTrustedSigners: ActiveTrustedSigners?
    var StreamingDistributionConfig: VersionedConfig<StreamingConfigDocument>

    struct ActiveTrustedSigners: Encodable {
        var Enabled: Bool
        var Quantity: Int
    }
}

/// A config in the version asked for: today's shape (a streaming config document, or a
/// basic distribution's kept tree) or the flat 2009-12-01 one.
enum VersionedConfig<Current: Encodable>: Encodable {
    case current(Current)
    case original(OriginalConfigDocument)

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .current(let document): try document.encode(to: encoder)
        case .original(let document): try document.encode(to: encoder)
        }
    }
}

/// `StreamingDistributionList`.
struct StreamingDistributionListDocument: Encodable {
    var Marker: String
    var NextMarker: String?
    var MaxItems: Int
    var IsTruncated: Bool
    var Quantity: Int?
    var Items: Items?
    /// 2009-12-01 repeats the summaries directly under the list.
    var StreamingDistributionSummary: [OriginalSummary]?

    struct Items: Encodable {
        var StreamingDistributionSummary: [Summary]
    }

    struct Summary: Encodable {
        var Id: String
        var ARN: String
        var Status: String
        var LastModifiedTime: String
        var DomainName: String
        var S3Origin: StreamingConfigDocument.S3OriginElement
        var Aliases: StreamingConfigDocument.AliasesElement
        var TrustedSigners: StreamingConfigDocument.TrustedSignersElement
        var Comment: String
        var PriceClass: String
        var Enabled: Bool
    }

    struct OriginalSummary: Encodable {
        var Id: String
        var Status: String
        var LastModifiedTime: String
        var DomainName: String
        var Origin: String
        var CNAME: [String]?
        var Comment: String
        var Enabled: Bool
    }
}

// swiftlint:enable identifier_name

/// The streaming-distribution documents, read and written in either API version.
public enum StreamingDistributionXML {
    /// The config in a create or update body.
    public static func readConfig(_ body: [UInt8], version: APIVersion) throws(ControlError) -> DistributionConfig {
        let root = try ConfigReader.root(of: body)
        switch version {
        case .current: return try StreamingConfigDocument.read(root)
        case .original: return try OriginalConfigDocument.read(root, kind: .streaming)
        }
    }

    static func configElement(_ config: DistributionConfig, version: APIVersion) -> VersionedConfig<StreamingConfigDocument> {
        version == .current ? .current(StreamingConfigDocument(config)) : .original(OriginalConfigDocument(config))
    }

    /// `2009-11-19T19:37:58.000Z`. Formatted by hand: an ISO8601DateFormatter is costly
    /// to make and not safe to share, and a list of 100 summaries needs 100 of these.
    static func time(_ date: Date) -> String {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded(.down)
        var seconds = time_t(exactly: (milliseconds / 1000).rounded(.down)) ?? 0
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let fraction = Int32(milliseconds.truncatingRemainder(dividingBy: 1000))
        return "\(digits(parts.tm_year + 1900, 4))-\(digits(parts.tm_mon + 1, 2))-\(digits(parts.tm_mday, 2))T"
            + "\(digits(parts.tm_hour, 2)):\(digits(parts.tm_min, 2)):\(digits(parts.tm_sec, 2)).\(digits(fraction, 3))Z"
    }

    /// `StreamingDistribution`: the answer to create, get and update.
    public static func distribution(_ distribution: Distribution, version: APIVersion, account: String) -> String {
        let document = StreamingDistributionDocument(
            Id: distribution.id, ARN: version == .current ? "arn:aws:cloudfront::\(account):streaming-distribution/\(distribution.id)" : nil,
            Status: distribution.status.rawValue, LastModifiedTime: time(distribution.lastModified), DomainName: distribution.domainName,
            ActiveTrustedSigners: version == .current ? .init(Enabled: false, Quantity: 0) : nil,
            StreamingDistributionConfig: configElement(distribution.config, version: version))
        return ControlXML.encode(document, root: "StreamingDistribution", version: version)
    }

    /// `StreamingDistributionConfig`: the answer to GetConfig.
    public static func config(_ distribution: Distribution, version: APIVersion) -> String {
        ControlXML.encode(configElement(distribution.config, version: version), root: "StreamingDistributionConfig", version: version)
    }

    /// `StreamingDistributionList`.
    public static func list(_ items: [Distribution], marker: String, nextMarker: String?, maxItems: Int, version: APIVersion,
                            account: String) -> String {
        var document = StreamingDistributionListDocument(Marker: marker, NextMarker: nextMarker, MaxItems: maxItems,
                                                         IsTruncated: nextMarker != nil)
        switch version {
        case .current:
            document.Quantity = items.count
            document.Items = items.isEmpty ? nil : .init(StreamingDistributionSummary: items.map { item in
                let config = StreamingConfigDocument(item.config)
                return .init(Id: item.id, ARN: "arn:aws:cloudfront::\(account):streaming-distribution/\(item.id)", Status: item.status.rawValue,
                             LastModifiedTime: time(item.lastModified), DomainName: item.domainName, S3Origin: config.S3Origin,
                             Aliases: config.Aliases ?? .init(Quantity: 0, Items: nil),
                             TrustedSigners: config.TrustedSigners ?? .init(Enabled: false, Quantity: 0, Items: nil),
                             Comment: item.config.comment, PriceClass: config.PriceClass ?? "PriceClass_All", Enabled: item.config.enabled)
            })
        case .original:
            document.StreamingDistributionSummary = items.map { item in
                .init(Id: item.id, Status: item.status.rawValue, LastModifiedTime: time(item.lastModified), DomainName: item.domainName,
                      Origin: item.config.origin, CNAME: item.config.aliases.isEmpty ? nil : item.config.aliases, Comment: item.config.comment,
                      Enabled: item.config.enabled)
            }
        }
        return ControlXML.encode(document, root: "StreamingDistributionList", version: version)
    }
}
