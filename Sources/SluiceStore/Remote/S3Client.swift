import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import SluiceMedia
#if canImport(Glibc)
import Glibc
#endif

/// Just enough of an S3 client for the external backend: path-style requests to one
/// endpoint, signed with Signature V4, bodies streamed from and into files.
struct S3Client: Sendable {
    let endpoint: Endpoint
    let region: String
    let accessKey: String
    let secretKey: String

    /// `http(s)://HOST[:PORT]`, checked once.
    struct Endpoint: Sendable {
        let base: String
        /// What the Host header carries (and what is signed).
        let host: String

        init(_ text: String) throws(StoreError) {
            let trimmed = text.hasSuffix("/") ? String(text.dropLast()) : text
            guard let url = URL(string: trimmed), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  let host = url.host, !host.isEmpty, url.path.isEmpty || url.path == "/", url.query == nil
            else {
                throw StoreError(.invalidConfiguration, "'\(text)' is not an endpoint URL like http://HOST:PORT or https://HOST")
            }
            base = scheme + "://" + (url.port.map { "\(host):\($0)" } ?? host)
            let defaultPort = scheme == "https" ? 443 : 80
            self.host = url.port.map { $0 == defaultPort ? host : "\(host):\($0)" } ?? host
        }
    }

    enum Body: Sendable {
        case none
        case bytes(Data)
        /// `length` bytes of the file from `offset`, read as they are sent.
        case file(path: String, offset: Int64, length: Int64)
    }

    struct Response: Sendable {
        var status: Int
        var headers: HTTPHeaders
        /// The body, unless it went into a file.
        var body: Data

        func header(_ name: String) -> String? { headers.first(name: name) }
    }

    /// The HTTP client every external store shares. It lives as long as the process (so it
    /// never needs shutting down), follows no redirects and never decompresses: bodies must
    /// arrive byte for byte.
    static let http = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(5), read: .seconds(120)),
            decompression: .disabled
        )
    )

    /// A whole request may take this long: a large body on a slow link.
    static let deadline = TimeAmount.hours(6)
    /// Bodies read into memory (listings, errors, ACLs) may be this large.
    static let bodyLimit = 32 << 20

    /// Sends a signed request. `path` is unencoded and starts with "/". With `download`,
    /// a 2xx body is written to that file instead of being returned. Any status outside
    /// 2xx (and 304) becomes a `StoreError` that says what failed.
    func send(_ method: HTTPMethod, path: String, query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [],
              body: Body = .none, download: String? = nil, what: String) async throws(StoreError) -> Response {
        let encodedPath = SignatureV4.encode(path, keepSlash: true)
        let payloadHash: String
        switch body {
        case .none: payloadHash = SignatureV4.emptyPayloadHash
        case .bytes(let data): payloadHash = SignatureV4.hex(SHA256.hash(data: data))
        // Integrity of large bodies rides on Content-MD5 instead: hashing twice would read
        // every byte twice.
        case .file: payloadHash = SignatureV4.unsignedPayload
        }
        var signed = SignatureV4.Request(method: method.rawValue, path: encodedPath, query: query, headers: [("host", endpoint.host)] + headers)
        SignatureV4.sign(&signed, accessKey: accessKey, secret: secretKey, region: region, payloadHash: payloadHash, now: Date())

        let queryText = query.map { SignatureV4.encode($0.name) + "=" + SignatureV4.encode($0.value) }.joined(separator: "&")
        var request = HTTPClientRequest(url: endpoint.base + encodedPath + (queryText.isEmpty ? "" : "?" + queryText))
        request.method = method
        for header in signed.headers { request.headers.add(name: header.name, value: header.value) }
        switch body {
        case .none: break
        case .bytes(let data): request.body = .bytes(ByteBuffer(bytes: data))
        case .file(let file, let offset, let length):
            request.body = .stream(FileChunks(path: file, offset: offset, length: length), length: .known(length))
        }

        do {
            let response = try await Self.http.execute(request, timeout: Self.deadline)
            let status = Int(response.status.code)
            if let download, (200..<300).contains(status) {
                try await Self.write(response.body, to: download)
                return Response(status: status, headers: response.headers, body: Data())
            }
            let collected = try await response.body.collect(upTo: Self.bodyLimit)
            let data = Data(collected.readableBytesView)
            guard (200..<300).contains(status) || status == 304 else {
                throw Self.failure(status: status, body: data, what: what)
            }
            return Response(status: status, headers: response.headers, body: data)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.serviceUnavailable, "\(what): cannot reach \(endpoint.base): \(error)")
        }
    }

    /// S3's error document (or just the status, for HEAD) as a store error.
    static func failure(status: Int, body: Data, what: String) -> StoreError {
        let document = S3XMLElement.parse(body)
        let code = document?.value("Code") ?? "HTTP \(status)"
        let message = document?.value("Message") ?? ""
        let text = "\(what): \(code)" + (message.isEmpty ? "" : " (\(message))")
        switch (status, code) {
        case (_, "NoSuchKey"): return StoreError(.noSuchKey, text)
        case (_, "NoSuchBucket"): return StoreError(.noSuchBucket, text)
        case (_, "BucketNotEmpty"): return StoreError(.bucketNotEmpty, text)
        case (_, "NoSuchUpload"): return StoreError(.noSuchUpload, text)
        case (404, _): return StoreError(.noSuchKey, text)
        case (401, _), (403, _): return StoreError(.accessDenied, text)
        case (408, _), (429, _), (500..., _), (_, "SlowDown"), (_, "RequestTimeout"): return StoreError(.serviceUnavailable, text)
        default: return StoreError(.internalError, text)
        }
    }

    /// Streams a response body into a new file; the caller renames it into place.
    static func write(_ body: HTTPClientResponse.Body, to path: String) async throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw StoreError.fromErrno("cannot write \(path)") }
        defer { close(descriptor) }
        for try await chunk in body {
            guard chunk.withUnsafeReadableBytes({ POSIXFile.writeAll(descriptor, $0) }) else {
                throw StoreError.fromErrno("cannot write \(path)")
            }
        }
    }
}

/// A file's bytes as ByteBuffers of 1 MiB, read as the request body is sent, so a
/// large upload never sits in memory.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let offset: Int64
    let length: Int64

    func makeAsyncIterator() -> Iterator { Iterator(path: path, position: offset, remaining: length) }

    struct Iterator: AsyncIteratorProtocol {
        let path: String
        var position: Int64
        var remaining: Int64
        var file: Descriptor?

        /// Closes the file however iteration ends.
        final class Descriptor {
            let value: Int32
            init(_ value: Int32) { self.value = value }
            deinit { close(value) }
        }

        mutating func next() async throws -> ByteBuffer? {
            guard remaining > 0 else {
                file = nil
                return nil
            }
            if file == nil {
                let descriptor = open(path, O_RDONLY | O_CLOEXEC)
                guard descriptor >= 0 else { throw StoreError.fromErrno("cannot read \(path)") }
                file = Descriptor(descriptor)
            }
            let descriptor = file!.value
            let size = Int(Swift.min(remaining, 1 << 20))
            var buffer = ByteBufferAllocator().buffer(capacity: size)
            let at = position
            let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
                Swift.max(0, pread(descriptor, raw.baseAddress, size, off_t(at)))
            }
            guard count > 0 else { throw StoreError(.internalError, "\(path) ended early (it changed while being sent)") }
            position += Int64(count)
            remaining -= Int64(count)
            return buffer
        }
    }
}
