import Foundation

/// What CloudFront called a streaming distribution (RTMP from `cfx/st`) and a
/// distribution (HTTP; "basic" here, as people called it beside streaming ones).
public enum DistributionKind: String, Codable, Sendable, CaseIterable {
    case streaming
    case basic

    /// The resource name in the API's paths (`/2020-05-31/streaming-distribution`).
    public var resource: String { self == .streaming ? "streaming-distribution" : "distribution" }
}

/// A distribution's settings, whichever API version described them.
public struct DistributionConfig: Codable, Equatable, Sendable {
    public var callerReference: String
    /// The origin as given: `B`, `B.s3.amazonaws.com`, `B.s3.REGION.amazonaws.com`…
    public var origin: String
    /// CNAMEs (streaming) or aliases (basic), as given.
    public var aliases: [String]
    public var comment: String
    public var enabled: Bool
    public var logging: Logging?
    public var trustedSignersEnabled: Bool
    public var priceClass: String?
    /// For basic distributions: what `/` serves.
    public var defaultRootObject: String?
    /// For basic distributions made through the 2020-05-31 API: the whole
    /// `DistributionConfig` the client sent, returned with the fields above written over it.
    public var document: ConfigTree?

    public struct Logging: Codable, Equatable, Sendable {
        public var enabled: Bool
        public var bucket: String
        public var prefix: String

        public init(enabled: Bool, bucket: String, prefix: String) {
            self.enabled = enabled
            self.bucket = bucket
            self.prefix = prefix
        }
    }

    public init(callerReference: String, origin: String, aliases: [String] = [], comment: String = "", enabled: Bool = true,
                logging: Logging? = nil, trustedSignersEnabled: Bool = false, priceClass: String? = nil, defaultRootObject: String? = nil,
                document: ConfigTree? = nil) {
        self.callerReference = callerReference
        self.origin = origin
        self.aliases = aliases
        self.comment = comment
        self.enabled = enabled
        self.logging = logging
        self.trustedSignersEnabled = trustedSignersEnabled
        self.priceClass = priceClass
        self.defaultRootObject = defaultRootObject
        self.document = document
    }
}

/// `InProgress` until the running servers apply the latest change, then `Deployed`.
public enum DistributionStatus: String, Codable, Sendable {
    case inProgress = "InProgress"
    case deployed = "Deployed"
}

public struct Distribution: Equatable, Sendable {
    /// `E` and 13 upper-case letters or digits.
    public var id: String
    public var kind: DistributionKind
    /// `s…` (streaming) or `d…` (basic): 13 lower-case letters or digits, then the
    /// configured suffix.
    public var domainName: String
    public var config: DistributionConfig
    /// Changes with every change of the config; `If-Match` must name it.
    public var etag: String
    public var status: DistributionStatus
    public var lastModified: Date
    /// The bucket the origin names.
    public var bucket: String

    public init(id: String, kind: DistributionKind, domainName: String, config: DistributionConfig, etag: String,
                status: DistributionStatus, lastModified: Date, bucket: String) {
        self.id = id
        self.kind = kind
        self.domainName = domainName
        self.config = config
        self.etag = etag
        self.status = status
        self.lastModified = lastModified
        self.bucket = bucket
    }
}

/// Origins name buckets: `B`, `B.s3.amazonaws.com`, `B.s3.REGION.amazonaws.com`,
/// `B.s3-REGION.amazonaws.com` (the 2009 form) and `B.DOMAIN` for the S3 API's own
/// virtual-host domains.
public enum OriginName {
    public static func bucket(_ origin: String, s3Domains: [String]) -> String? {
        var name = origin.lowercased()
        if let scheme = name.range(of: "://") { name = String(name[scheme.upperBound...]) }
        while name.hasSuffix("/") || name.hasSuffix(".") { name.removeLast() }
        if let colon = name.lastIndex(of: ":"), name[name.index(after: colon)...].allSatisfy(\.isNumber) { name = String(name[..<colon]) }
        var suffixes = [".s3.amazonaws.com"] + s3Domains.map { "." + $0.lowercased() }
        if let range = name.range(of: #"\.s3[.-][a-z0-9-]+\.amazonaws\.com$"#, options: .regularExpression) {
            suffixes.append(String(name[range]))
        }
        for suffix in suffixes where name.hasSuffix(suffix) && name.count > suffix.count {
            return String(name.dropLast(suffix.count))
        }
        // Anything else is taken as a bucket's own name; whether it exists is the
        // caller's check (InvalidOrigin).
        return name.isEmpty ? nil : name
    }
}
