import Foundation

/// The control API without sockets: a request's method, path, query, `If-Match` and body
/// in; status, headers and body out. The HTTP server is only its driver, and tests and
/// the fuzzer call it directly. Authentication happens before (the server checks the
/// request's Signature V4 for service `cloudfront`).
public struct ControlAPI: Sendable {
    public let store: DistributionStore
    /// The account id in ARNs.
    public var account = "000000000000"
    /// What `Location` headers start with (`https://cloudfront.amazonaws.com` for the
    /// real service); nil: `http://` and the Host the client used.
    public var baseURL: String?

    public init(store: DistributionStore, baseURL: String? = nil) {
        self.store = store
        self.baseURL = baseURL
    }

    public struct Request: Sendable {
        public var method: String
        /// The path, percent-decoded, without the query.
        public var path: String
        public var query: [String: String]
        public var ifMatch: String?
        public var body: [UInt8]
        public var requestID: String
        /// The Host the client used, for `Location` (when no `baseURL` is set).
        public var host: String?

        public init(method: String, path: String, query: [String: String] = [:], ifMatch: String? = nil, body: [UInt8] = [],
                    requestID: String = UUID().uuidString.lowercased(), host: String? = nil) {
            self.host = host
            self.method = method
            self.path = path
            self.query = query
            self.ifMatch = ifMatch
            self.body = body
            self.requestID = requestID
        }
    }

    public struct Response: Sendable, Equatable {
        public var status: Int
        public var headers: [String: String]
        public var body: String
        /// The error code when the request was refused, for the access log.
        public var errorCode: String?
    }

    /// What a path names: `/VERSION/streaming-distribution[/ID[/config]]`, the same for
    /// `distribution`.
    enum Route: Equatable {
        case collection(APIVersion, DistributionKind)
        case item(APIVersion, DistributionKind, String)
        case config(APIVersion, DistributionKind, String)
    }

    static func route(_ path: String) -> Route? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard (2...4).contains(parts.count), let version = APIVersion(rawValue: parts[0]),
              let kind = DistributionKind.allCases.first(where: { $0.resource == parts[1] }) else { return nil }
        switch parts.count {
        case 2: return .collection(version, kind)
        case 3: return .item(version, kind, parts[2])
        default: return parts[3] == "config" ? .config(version, kind, parts[2]) : nil
        }
    }

    public func handle(_ request: Request) -> Response {
        guard let route = Self.route(request.path) else {
            return failure(ControlError("InvalidArgument", 404, "No such resource: \(request.path.prefix(200))."), version: .current, request)
        }
        let version: APIVersion
        switch route {
        case .collection(let v, _), .item(let v, _, _), .config(let v, _, _): version = v
        }
        do {
            return try answer(route, request)
        } catch let error as ControlError {
            return failure(error, version: version, request)
        } catch {
            return failure(ControlError("InternalError", 500, "The server could not complete the request."), version: version, request)
        }
    }

    func answer(_ route: Route, _ request: Request) throws -> Response {
        switch (route, request.method) {
        case (.collection(let version, let kind), "POST"):
            let config = try Self.readConfig(request.body, kind: kind, version: version)
            // A replay of the same create gets the same answer as the create did.
            let made = try store.create(kind, config).distribution
            var response = distribution(made, version: version, status: 201)
            let base = baseURL ?? "http://\(request.host ?? "localhost")"
            response.headers["Location"] = "\(base)/\(version.rawValue)/\(kind.resource)/\(made.id)"
            return response
        case (.collection(let version, let kind), "GET"):
            let maxItems = try Self.maxItems(request.query["MaxItems"])
            let marker = request.query["Marker"] ?? ""
            let page = try store.list(kind, marker: marker.isEmpty ? nil : marker, maxItems: maxItems)
            return ok(kind == .streaming
                ? StreamingDistributionXML.list(page.items, marker: marker, nextMarker: page.nextMarker, maxItems: maxItems, version: version,
                                                account: account)
                : BasicDistributionXML.list(page.items, marker: marker, nextMarker: page.nextMarker, maxItems: maxItems, version: version,
                                            account: account))
        case (.item(let version, let kind, let id), "GET"):
            return distribution(try store.get(kind, id), version: version, status: 200)
        case (.item(_, let kind, let id), "DELETE"):
            try store.delete(kind, id, ifMatch: request.ifMatch)
            return Response(status: 204, headers: [:], body: "")
        case (.config(let version, let kind, let id), "GET"):
            let found = try store.get(kind, id)
            var response = ok(kind == .streaming ? StreamingDistributionXML.config(found, version: version)
                                                 : BasicDistributionXML.config(found, version: version))
            response.headers["ETag"] = found.etag
            return response
        case (.config(let version, let kind, let id), "PUT"):
            var config = try Self.readConfig(request.body, kind: kind, version: version)
            if version == .original, kind == .basic {
                // The 2009-12-01 shape cannot say these: an update through it keeps them.
                let existing = try store.get(kind, id).config
                config.defaultRootObject = existing.defaultRootObject
                config.priceClass = existing.priceClass
                config.document = existing.document
            }
            return distribution(try store.update(kind, id, config, ifMatch: request.ifMatch), version: version, status: 200)
        case (_, let method):
            throw ControlError("InvalidArgument", 405, "The method \(method.prefix(20)) is not allowed on this resource.")
        }
    }

    static func readConfig(_ body: [UInt8], kind: DistributionKind, version: APIVersion) throws(ControlError) -> DistributionConfig {
        kind == .streaming ? try StreamingDistributionXML.readConfig(body, version: version)
            : try BasicDistributionXML.readConfig(body, version: version)
    }

    static func maxItems(_ text: String?) throws(ControlError) -> Int {
        guard let text else { return 100 }
        guard let value = Int(text), (0...1000).contains(value) else {
            throw ControlError.invalidArgument("MaxItems must be a whole number from 0 to 1000.")
        }
        return value
    }

    func ok(_ body: String) -> Response {
        Response(status: 200, headers: ["Content-Type": "text/xml"], body: body)
    }

    func distribution(_ distribution: Distribution, version: APIVersion, status: Int) -> Response {
        let body = distribution.kind == .streaming ? StreamingDistributionXML.distribution(distribution, version: version, account: account)
            : BasicDistributionXML.distribution(distribution, version: version, account: account)
        return Response(status: status, headers: ["Content-Type": "text/xml", "ETag": distribution.etag], body: body)
    }

    func failure(_ error: ControlError, version: APIVersion, _ request: Request) -> Response {
        Response(status: error.status, headers: ["Content-Type": "text/xml"], body: error.document(version: version, requestID: request.requestID),
                 errorCode: error.code)
    }
}
