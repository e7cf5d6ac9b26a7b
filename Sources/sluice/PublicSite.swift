import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SluiceControl
import SluiceHTTP
import SluiceRTMP
import SluiceStore
import Synchronization

/// What the public HTTP port answers, by Host: a basic distribution's host serves its
/// origin bucket's public-read objects (GET, HEAD, Range, conditional requests); a
/// streaming distribution's host serves only the allow-all `crossdomain.xml` and refuses
/// the rest with `DistributionTypeMismatch`; any other host gets the policy and 404.
struct PublicSite: HTTPResponder {
    /// Host (lower-case, no port) → what answers for it; swapped when distributions change.
    final class Hosts: Sendable {
        enum Entry: Equatable, Sendable {
            case basic(bucket: String, enabled: Bool, defaultRootObject: String?, id: String, domain: String)
            case streaming
        }

        private let table = Mutex<[String: Entry]>([:])

        func update(_ distributions: [Distribution]) {
            var hosts: [String: Entry] = [:]
            for distribution in distributions {
                let entry: Entry = distribution.kind == .basic
                    ? .basic(bucket: distribution.bucket, enabled: distribution.config.enabled, defaultRootObject: distribution.config.defaultRootObject,
                             id: distribution.id, domain: distribution.domainName)
                    : .streaming
                for host in [distribution.domainName] + distribution.config.aliases { hosts[host.lowercased()] = entry }
            }
            table.withLock { $0 = hosts }
        }

        func entry(_ host: String) -> Entry? { table.withLock { $0[host] } }
    }

    let hosts: Hosts
    /// Where a basic distribution with Logging on writes its access log.
    let accessLogs: AccessLogs
    /// Where the objects are.
    let origin: Origin
    let threadPool: NIOThreadPool
    let logger: Logger
    /// RTMPT's sessions (the RTMP server's tunnel), when RTMP is served.
    var tunnel: RTMPTunnel?
    let lookups = RecentLookups()

    func respond(to head: HTTPRequestHead, connection: HTTPConnection, context: HTTPRequestContext) async -> HTTPReply {
        let target = head.uri.split(separator: "?", maxSplits: 1)
        let path = target.first.map(String.init) ?? "/"
        let host = HostHeader.name(head.headers.first(name: "host"))
        let entry = hosts.entry(host)
        if head.method == .POST, let tunnel, let command = RTMPTunnel.Command(path: path) {
            return await tunnel.respond(to: command, host: host, connection: connection, context: context)
        }
        guard head.method == .GET || head.method == .HEAD else {
            return Self.error("MethodNotAllowed", .methodNotAllowed, "The specified method is not allowed against this resource.")
        }
        switch entry {
        case .basic(let bucket, let enabled, let root, _, _)?:
            guard enabled else { return Self.error("DistributionNotFound", .forbidden, "This distribution is disabled.") }
            let start = target.count > 1 ? Self.flvStart(String(target[1])) : nil
            return await object(bucket: bucket, path: path == "/" ? "/" + (root ?? "") : path, head: head, flvStart: start)
        case .streaming?:
            if path == "/crossdomain.xml" { return Self.crossDomain }
            return Self.error("DistributionTypeMismatch", .forbidden, "\(host) is a streaming distribution: use RTMP.")
        case nil:
            if path == "/crossdomain.xml" { return Self.crossDomain }
            return .data(.notFound, [("Content-Type", "text/plain; charset=utf-8")], "Not Found\n")
        }
    }

    /// RTMPT polls, answered on the event loop.
    func exchangeOnEventLoop(for head: HTTPRequestHead, context: HTTPRequestContext) -> EventLoopExchange<HTTPReply>? {
        tunnel?.exchange(for: head, host: HostHeader.name(head.headers.first(name: "host")), context: context)
    }

    func written(_ answer: HTTPReply, for head: HTTPRequestHead, context: HTTPRequestContext, elapsed: Duration) {
        logger.debug("HTTP \(head.method) \(head.uri.prefix(200)) -> \(answer.status.code)")
        let hostHeader = head.headers.first(name: "host") ?? ""
        guard case .basic(_, _, _, let id, let domain)? = hosts.entry(HostHeader.name(hostHeader)), accessLogs.isLogging(id) else { return }
        let target = head.uri.split(separator: "?", maxSplits: 1).map(String.init)
        var headers: [(String, String)] = []
        var range: Range<Int64>?
        switch answer {
        case .data(_, let h, _): headers = h
        case .bytes(_, let h, _): headers = h
        case .empty(_, let h): headers = h
        case .file(let status, let h, _, let r): headers = h; if status == .partialContent { range = r }
        case .prefixedFile(_, let h, _, _, _): headers = h
        }
        let parts = elapsed.components
        let seconds = Double(parts.seconds) + Double(parts.attoseconds) / 1e18
        let entry = WebLogEntry(
            time: Date(), clientIP: context.peer?.ipAddress ?? "-", clientPort: context.peer?.port, method: head.method.rawValue,
            distributionHost: domain, hostHeader: hostHeader, uriStem: target.first ?? "/", uriQuery: target.count > 1 ? target[1] : "",
            status: Int(answer.status.code), referrer: head.headers.first(name: "referer") ?? "", userAgent: head.headers.first(name: "user-agent") ?? "",
            cookie: head.headers.first(name: "cookie") ?? "", requestID: context.requestID, protocolVersion: "HTTP/\(head.version.major).\(head.version.minor)",
            bytesSent: answer.bodyLength(for: head.method), bytesReceived: Int64(head.headers.first(name: "content-length") ?? "") ?? 0,
            seconds: seconds, contentType: headers.first { $0.0.lowercased() == "content-type" }?.1 ?? "",
            contentLength: answer.bodyLength(for: head.method), rangeStart: range?.lowerBound, rangeEnd: range.map { $0.upperBound - 1 })
        accessLogs.record(entry, distributionID: id)
    }

    static var crossDomain: HTTPReply {
        .data(.ok, [("Content-Type", "text/x-cross-domain-policy")], PublicHTTPServer.crossDomainPolicy)
    }


    /// `start=N` of FLV pseudo-streaming (a byte offset players take from the keyframe
    /// index), when the query has one.
    static func flvStart(_ query: String) -> Int64? {
        for pair in query.split(separator: "&") where pair.hasPrefix("start=") {
            return Int64(pair.dropFirst(6))
        }
        return nil
    }

    /// What nginx's flv module sends before the file from `start` on: an FLV header for
    /// audio and video, and a first PreviousTagSize of 0.
    static let flvHeader: [UInt8] = [0x46, 0x4C, 0x56, 0x01, 0x05, 0, 0, 0, 0x09, 0, 0, 0, 0]

    func object(bucket: String, path: String, head: HTTPRequestHead, flvStart: Int64? = nil) async -> HTTPReply {
        let key = String((path.removingPercentEncoding ?? path).dropFirst())
        guard !key.isEmpty else { return Self.error("NoSuchKey", .notFound, "The specified key does not exist.") }
        let lookup = RecentLookups.Key(bucket: bucket, key: key)
        var found: RecentLookups.Found
        do {
            found = try await look(up: lookup)
            if case .object(_, let path) = found, !FileManager.default.fileExists(atPath: path) {
                // Replaced since it was looked up: the body that was is gone.
                lookups.forget(lookup)
                found = try await look(up: lookup)
            }
        } catch {
            return Self.error("InternalError", .internalServerError, "We encountered an internal error. Please try again.")
        }
        let info: ObjectInfo, path: String
        switch found {
        case .missing: return Self.error("NoSuchKey", .notFound, "The specified key does not exist.")
        case .notPublic: return Self.error("AccessDenied", .forbidden, "Access Denied")
        case .object(let object, let body): (info, path) = (object, body)
        }
        let headers = Self.headers(info)
        switch HTTPConditions.evaluate(etag: info.etag, lastModified: info.lastModified, header: { head.headers.first(name: $0) }) {
        case .proceed: break
        case .notModified: return .empty(.notModified, headers.filter { $0.0 != "Content-Type" })
        case .preconditionFailed: return Self.error("PreconditionFailed", .preconditionFailed, "At least one of the pre-conditions you specified did not hold.")
        }
        if let start = flvStart, start > 0, start < info.size, key.lowercased().hasSuffix(".flv") {
            // Pseudo-streaming: a new file for the player, with no validator of the whole.
            let length = Int64(Self.flvHeader.count) + info.size - start
            if head.method == .HEAD { return .empty(.ok, [("Content-Type", "video/x-flv"), ("Content-Length", String(length))]) }
            return .prefixedFile(.ok, [("Content-Type", "video/x-flv")], prefix: Self.flvHeader, path: path, range: start..<info.size)
        }
        if head.method == .HEAD { return .empty(.ok, headers + [("Content-Length", String(info.size))]) }
        let range = ByteRange(header: head.headers.first(name: "range"), size: info.size)
        return HTTPReply.file(range, size: info.size, headers: headers, path: path)
            ?? .data(.rangeNotSatisfiable, [("Content-Range", "bytes */\(info.size)"), ("Content-Type", "text/xml")],
                     Self.document("InvalidRange", "The requested range is not satisfiable"))
    }

    /// A small public object of a basic distribution, looked up within the last second,
    /// asked for whole: answered on the event loop, its body read there (at most
    /// `inlineBody`, from the page cache as a rule; nginx reads on its event loop too).
    /// Everything else takes the ordinary path.
    func respondImmediately(to head: HTTPRequestHead, context: HTTPRequestContext) -> (ImmediateReply, HTTPReply)? {
        guard !head.headers.contains(name: "range") else { return nil }
        let target = head.uri.split(separator: "?", maxSplits: 1)
        guard target.count == 1, let path = target.first.map(String.init), path != "/",
              case .basic(let bucket, true, _, _, _)? = hosts.entry(HostHeader.name(head.headers.first(name: "host"))) else { return nil }
        let key = String((path.removingPercentEncoding ?? path).dropFirst())
        let lookup = RecentLookups.Key(bucket: bucket, key: key)
        guard !key.isEmpty, case .object(let info, let file)? = lookups.recall(lookup), info.size <= Self.inlineBody else { return nil }
        let conditions = HTTPConditions.evaluate(etag: info.etag, lastModified: info.lastModified, header: { head.headers.first(name: $0) })
        guard conditions != .preconditionFailed else { return nil }
        var prepared = lookups.prepared(for: lookup)
        if prepared == nil {
            guard let body = Self.read(file, size: Int(info.size)) else { return nil }
            prepared = RecentLookups.Prepared(headers: Self.headers(info), body: body)
            lookups.keep(prepared!, for: lookup)
        }
        guard let prepared else { return nil }
        let logged = HTTPReply.file(.ok, prepared.headers, path: file, range: 0..<info.size)
        switch (conditions, head.method) {
        case (.notModified, _):
            let kept = prepared.headers.filter { $0.0 != "Content-Type" }
            return (ImmediateReply(status: .notModified, headers: kept, body: ByteBuffer()), .empty(.notModified, kept))
        case (_, .HEAD):
            return (ImmediateReply(status: .ok, headers: prepared.headers + [("Content-Length", String(info.size))], body: ByteBuffer()), logged)
        default:
            return (ImmediateReply(status: .ok, headers: prepared.headers, body: prepared.body), logged)
        }
    }

    /// Objects up to this size can be answered at once.
    static let inlineBody: Int64 = 64 << 10

    /// The whole file, if it still has the size its metadata says.
    static func read(_ path: String, size: Int) -> ByteBuffer? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: max(size, 1)) { pointer in
            size == 0 ? 0 : max(0, pread(descriptor, pointer.baseAddress!, size, 0))
        }
        return count == size ? buffer : nil
    }

    /// The object, as looked up within the last second or now.
    func look(up lookup: RecentLookups.Key) async throws -> RecentLookups.Found {
        if let recalled = lookups.recall(lookup) { return recalled }
        let origin = self.origin
        let found = try await threadPool.runIfActive { origin.find(bucket: lookup.bucket, key: lookup.key) }
        lookups.remember(found, for: lookup)
        return found
    }

    /// Where a basic distribution's objects come from: the embedded store's files, or an
    /// external store's objects through the local cache the RTMP server plays from (the
    /// first request of an object fetches it whole, as a CDN edge did).
    enum Origin: Sendable {
        case embedded(LocalObjectStore)
        case cached(CachingMediaLibrary)

        /// Blocks on SQLite or the network: only on the thread pool.
        func find(bucket: String, key: String) -> RecentLookups.Found {
            switch self {
            case .embedded(let store):
                guard let info = try? store.headObject(bucket: bucket, key: key) else { return .missing }
                return info.acl == .publicRead ? .object(info, path: store.bodyPath(info)) : .notPublic
            case .cached(let cache):
                switch cache.cachedObject(bucket: bucket, key: key) {
                case .missing: return .missing
                case .notPublic: return .notPublic
                case .cached(let info, let path): return .object(info, path: path)
                }
            }
        }
    }

    /// What every answer about an object carries: the headers its uploader stored with it
    /// (Cache-Control, Content-Disposition…) too, as CloudFront passed an S3 origin's on.
    static func headers(_ info: ObjectInfo) -> [(String, String)] {
        [("ETag", "\"\(info.etag)\""), ("Last-Modified", HTTPDate.http(info.lastModified)), ("Content-Type", info.contentType),
         ("Accept-Ranges", "bytes")] + StoredHeader.names.compactMap { name in info.headers[name].map { (name, $0) } }
    }

    /// CloudFront's error body (as its S3 origins' errors reached viewers).
    static func error(_ code: String, _ status: HTTPResponseStatus, _ message: String) -> HTTPReply {
        .data(status, [("Content-Type", "text/xml")], document(code, message))
    }

    static func document(_ code: String, _ message: String) -> String {
        S3Error(code, .ok, message).document(resource: "", requestID: HTTPServer.requestID())
    }
}
