/// What a client's `connect` asked for.
public struct ConnectRequest: Sendable {
    /// The `app` property: `cfx/st` for a CloudFront-style streaming distribution.
    public var app: String
    public var tcUrl: String?
    public var pageUrl: String?
    public var flashVersion: String?
    /// The Host header (without port) of the HTTP requests carrying an RTMPT
    /// connection; nil over TCP.
    public var httpHost: String?

    public init(app: String, tcUrl: String?, pageUrl: String? = nil, flashVersion: String? = nil, httpHost: String? = nil) {
        self.app = app
        self.tcUrl = tcUrl
        self.pageUrl = pageUrl
        self.flashVersion = flashVersion
        self.httpHost = httpHost
    }
}

/// Where an accepted connection's streams come from.
public struct StreamRoute: Equatable, Sendable {
    public var bucket: String
    /// Prepended to every playpath's key (a distribution's origin path).
    public var keyPrefix: String
    /// The distribution that routed the connection; nil for the default one.
    public var distributionID: String?

    public init(bucket: String, keyPrefix: String = "", distributionID: String? = nil) {
        self.bucket = bucket
        self.keyPrefix = keyPrefix
        self.distributionID = distributionID
    }
}

/// A refusal with the code CloudFront put in the error (`DistributionNotFound`,
/// `DistributionTypeMismatch`, `InvalidInstance`, `InvalidURI`).
public struct ConnectRejection: Error, Equatable, Sendable {
    public var code: String
    public var description: String

    public init(code: String, description: String) {
        self.code = code
        self.description = description
    }

    public static func invalidInstance(_ app: String) -> ConnectRejection {
        ConnectRejection(code: "InvalidInstance", description: "InvalidInstance: application '\(app)' is not served here; use cfx/st")
    }

    public static func invalidURI(_ tcUrl: String?) -> ConnectRejection {
        ConnectRejection(code: "InvalidURI", description: "InvalidURI: cannot parse tcUrl '\(tcUrl ?? "")'")
    }
}

/// Decides which bucket a connection streams from. Distribution routing by host name
/// implements this too: it looks up `TcURL.host` and refuses unknown or non-streaming
/// distributions.
public protocol ConnectRouter: Sendable {
    func route(_ request: ConnectRequest, tcUrl: TcURL) -> Result<StreamRoute, ConnectRejection>
}

/// Serves application `cfx`, instance `st`, from one bucket, whatever the host name.
public struct SingleBucketRouter: ConnectRouter {
    public let route: StreamRoute

    public init(bucket: String) {
        route = StreamRoute(bucket: bucket)
    }

    public func route(_ request: ConnectRequest, tcUrl: TcURL) -> Result<StreamRoute, ConnectRejection> {
        guard TcURL.isStreamingApplication(request.app.isEmpty ? tcUrl.application : request.app) else {
            return .failure(.invalidInstance(request.app))
        }
        return .success(route)
    }
}

/// A parsed tcUrl: `rtmp[t|e|te|s]://host[:port]/app[/instance][?query]`.
public struct TcURL: Equatable, Sendable {
    public var scheme: String
    public var host: String
    public var port: Int?
    /// The path after the host, without leading or trailing slashes or query.
    public var application: String

    public static let schemes: Set<String> = ["rtmp", "rtmpt", "rtmpe", "rtmpte", "rtmps", "rtmpts"]

    public init?(_ string: String) {
        guard let separator = string.range(of: "://") else { return nil }
        let scheme = string[..<separator.lowerBound].lowercased()
        guard Self.schemes.contains(scheme) else { return nil }
        var rest = string[separator.upperBound...]
        if let query = rest.firstIndex(of: "?") { rest = rest[..<query] }
        let authority: Substring
        let path: Substring
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        } else {
            authority = rest
            path = ""
        }
        var host = authority
        var port: Int?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()), (1...65535).contains(value) else { return nil }
                port = value
            } else if !after.isEmpty {
                return nil
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let value = Int(authority[authority.index(after: colon)...]), (1...65535).contains(value) else { return nil }
            port = value
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":" || $0 == "_" }) else {
            return nil
        }
        self.scheme = scheme
        self.host = host.lowercased()
        self.port = port
        self.application = path.split(separator: "/").joined(separator: "/")
    }

    /// True for `cfx/st`, with or without a trailing slash or query string, and for `cfx`
    /// alone: an omitted instance is the default one, and librtmp sends just `cfx` for
    /// `rtmpdump -r rtmp://host/cfx/st -y NAME` (it takes the last path part for a playpath).
    public static func isStreamingApplication(_ app: String) -> Bool {
        var app = Substring(app)
        if let query = app.firstIndex(of: "?") { app = app[..<query] }
        let parts = app.split(separator: "/")
        return parts == ["cfx", "st"] || parts == ["cfx"]
    }
}
