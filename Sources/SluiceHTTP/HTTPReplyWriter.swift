import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Writes a reply: headers every answer carries (Date, Server, the request id, a length),
/// then the body, all parts of it in one flush. A file's body goes out with sendfile
/// (`FileRegion`): it never passes through memory, and the file is closed once its last
/// byte has left.
struct HTTPReplyWriter {
    let threadPool: NIOThreadPool
    let configuration: HTTPServerConfiguration
    let refusal: @Sendable (HTTPResponseStatus, String) -> (contentType: String, body: String)

    /// The largest piece of a file handed to one sendfile write. Each completed write
    /// counts as activity for the idle timeout, so a slow client taking a large file
    /// keeps its connection while bytes flow.
    static let sendfileChunk: Int64 = 16 << 20
    /// Bodies up to this size are read into memory as the reply is written: one small
    /// read costs less than a sendfile write whose completion must be awaited before the
    /// file can close.
    static let inlineBody: Int64 = 64 << 10

    func write(_ reply: HTTPReply, for request: HTTPRequestHead, requestID: String, connection: HTTPConnection) async throws {
        var headers = HTTPHeaders()
        if let name = configuration.requestIDHeader { headers.add(name: name, value: requestID) }
        headers.add(name: "Date", value: HTTPDate.now())
        headers.add(name: "Server", value: "Sluice")
        switch reply {
        case .data(let status, let extra, let body):
            for (name, value) in extra { headers.add(name: name, value: value) }
            let bytes = request.method == .HEAD ? ByteBuffer() : ByteBuffer(string: body)
            if !headers.contains(name: "Content-Type") { headers.add(name: "Content-Type", value: configuration.defaultContentType) }
            headers.add(name: "Content-Length", value: String(request.method == .HEAD ? 0 : bytes.readableBytes))
            let head = HTTPServerResponsePart.head(HTTPResponseHead(version: request.version, status: status, headers: headers))
            try await connection.send(bytes.readableBytes > 0 ? [head, .body(.byteBuffer(bytes)), .end(nil)] : [head, .end(nil)], awaitWritten: false)
        case .bytes(let status, let extra, let body):
            for (name, value) in extra { headers.add(name: name, value: value) }
            if !headers.contains(name: "Content-Type") { headers.add(name: "Content-Type", value: configuration.defaultContentType) }
            let length = request.method == .HEAD ? 0 : body.readableBytes
            headers.add(name: "Content-Length", value: String(length))
            let head = HTTPServerResponsePart.head(HTTPResponseHead(version: request.version, status: status, headers: headers))
            try await connection.send(length > 0 ? [head, .body(.byteBuffer(body)), .end(nil)] : [head, .end(nil)], awaitWritten: false)
        case .empty(let status, let extra):
            for (name, value) in extra { headers.add(name: name, value: value) }
            if !headers.contains(name: "Content-Length") && status != .notModified { headers.add(name: "Content-Length", value: "0") }
            try await connection.send([.head(HTTPResponseHead(version: request.version, status: status, headers: headers)), .end(nil)],
                                      awaitWritten: false)
        case .file(let status, let extra, let path, let range):
            try await writeFile(status, extra, prefix: [], path: path, range: range, headers: headers, for: request, requestID: requestID,
                                connection: connection)
        case .prefixedFile(let status, let extra, let prefix, let path, let range):
            try await writeFile(status, extra, prefix: prefix, path: path, range: range, headers: headers, for: request, requestID: requestID,
                                connection: connection)
        }
    }

    private func writeFile(_ status: HTTPResponseStatus, _ extra: [(String, String)], prefix: [UInt8], path: String, range: Range<Int64>,
                           headers: HTTPHeaders, for request: HTTPRequestHead, requestID: String, connection: HTTPConnection) async throws {
        var headers = headers
        for (name, value) in extra { headers.add(name: name, value: value) }
        headers.add(name: "Content-Length", value: String(Int64(prefix.count) + Int64(range.count)))
        // Opened here, not on the thread pool: the store's files are local, and opening
        // one costs microseconds, less than the hop to another thread (nginx opens on its
        // event loop too).
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            // The file was replaced between the lookup and the read: its new body is
            // a different file, the old one is gone. Report it rather than send a mix.
            let (type, body) = refusal(.internalServerError, "the object changed while it was read; retry")
            try await write(.data(.internalServerError, [("Content-Type", type)], body), for: request, requestID: requestID,
                            connection: connection)
            return
        }
        var parts: [HTTPServerResponsePart] = [.head(HTTPResponseHead(version: request.version, status: status, headers: headers))]
        if !prefix.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: prefix)))) }
        if range.count <= Self.inlineBody {
            defer { close(descriptor) }
            let want = Int(range.count)
            var buffer = ByteBufferAllocator().buffer(capacity: want)
            let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { pointer in
                want == 0 ? 0 : max(0, pread(descriptor, pointer.baseAddress!, want, off_t(range.lowerBound)))
            }
            guard count == want else {
                throw HTTPRequestError(code: "InternalError", status: .internalServerError, message: "the file ended early")
            }
            if count > 0 { parts.append(.body(.byteBuffer(buffer))) }
            parts.append(.end(nil))
            try await connection.send(parts, awaitWritten: false)
            return
        }
        let file = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
        defer { try? file.close() }
        var offset = range.lowerBound
        while offset < range.upperBound {
            let end = min(range.upperBound, offset + Self.sendfileChunk)
            // Offsets come from the store's own sizes (Int64 on a 64-bit platform).
            parts.append(.body(.fileRegion(FileRegion(fileHandle: file, readerIndex: Int(offset), endIndex: Int(end)))))
            offset = end
        }
        parts.append(.end(nil))
        // Returns once the last part has been written: only then may the file close.
        try await connection.send(parts, awaitWritten: true)
    }
}
