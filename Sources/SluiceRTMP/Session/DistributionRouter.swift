import Synchronization

/// Which distribution answers for which host name, as the RTMP server routes connects.
/// A value: the server swaps a whole new one in when a distribution changes, so a
/// connect costs one lock and one dictionary lookup, never a database call.
public struct RoutingTable: Sendable, Equatable {
    public enum Entry: Sendable, Equatable {
        /// An enabled streaming distribution and its origin bucket.
        case streaming(bucket: String, distributionID: String? = nil)
        /// A disabled streaming distribution: refused as if it did not exist.
        case disabled
        /// A basic (HTTP) distribution's host.
        case basic
    }

    /// Host names (domain names, CNAMEs, aliases), lower-case.
    public var hosts: [String: Entry]
    /// The bucket hosts that no distribution claims stream from; nil refuses them.
    public var defaultBucket: String?

    public init(hosts: [String: Entry] = [:], defaultBucket: String?) {
        self.hosts = hosts
        self.defaultBucket = defaultBucket
    }

    /// True when a distribution claims `host`.
    func names(_ host: String) -> Bool { hosts[host.lowercased()] != nil }

    func route(host: String) -> Result<StreamRoute, ConnectRejection> {
        switch hosts[host.lowercased()] {
        case .streaming(let bucket, let id)?: return .success(StreamRoute(bucket: bucket, distributionID: id))
        case .disabled?: return .failure(.distributionNotFound(host))
        case .basic?: return .failure(.distributionTypeMismatch(host))
        case nil: return defaultBucket.map { .success(StreamRoute(bucket: $0)) } ?? .failure(.distributionNotFound(host))
        }
    }
}

/// Routes a connect by the host in its tcUrl to a streaming distribution's bucket; then
/// only application `cfx/st` is served.
public final class DistributionRouter: ConnectRouter {
    private let table: Mutex<RoutingTable>

    public init(_ table: RoutingTable) {
        self.table = Mutex(table)
    }

    public var current: RoutingTable { table.withLock { $0 } }

    public func update(_ newTable: RoutingTable) {
        table.withLock { $0 = newTable }
    }

    public func route(_ request: ConnectRequest, tcUrl: TcURL) -> Result<StreamRoute, ConnectRejection> {
        let decision = table.withLock { table in
            // Over RTMPT the Host header names a distribution too. The tcUrl decides when
            // its host is one; the Host header when only it is (a player whose tcUrl holds
            // an address, or a proxy's name).
            if let httpHost = request.httpHost, !httpHost.isEmpty, !table.names(tcUrl.host), table.names(httpHost) {
                return table.route(host: httpHost)
            }
            return table.route(host: tcUrl.host)
        }
        guard case .success = decision else { return decision }
        guard TcURL.isStreamingApplication(request.app.isEmpty ? tcUrl.application : request.app) else {
            return .failure(.invalidInstance(request.app))
        }
        return decision
    }
}

extension ConnectRejection {
    public static func distributionNotFound(_ host: String) -> ConnectRejection {
        ConnectRejection(code: "DistributionNotFound", description: "DistributionNotFound: no enabled streaming distribution answers for \(host)")
    }

    public static func distributionTypeMismatch(_ host: String) -> ConnectRejection {
        ConnectRejection(code: "DistributionTypeMismatch",
                         description: "DistributionTypeMismatch: \(host) is a basic (HTTP) distribution, not a streaming one")
    }
}
