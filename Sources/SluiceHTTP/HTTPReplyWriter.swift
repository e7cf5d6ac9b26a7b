import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Writes a reply: headers every answer carries (Date, Server, the request id, a length),
/// then the body; a file's body in 1 MiB reads on the thread pool, so a large object
/// never sits in memory and a slow disk never blocks an event loop.
struct HTTPReplyWriter {
    let threadPool: NIOThreadPool
    let configuration: HTTPServerConfiguration
    let refusal: @Sendable (HTTPResponseStatus, String) -> (contentType: String, body: String)

    func write(_ reply: HTTPReply, for request: HTTPRequestHead, requestID: String, connection: HTTPConnection) async throws {
        var headers = HTTPHeaders()
        if let name = configuration.requestIDHeader { headers.add(name: name, value: requestID) }
        headers.add(name: "Date", value: HTTPDate.http(Date()))
        headers.add(name: "Server", value: "Sluice")
        let outbound = connection.outbound
        switch reply {
        case .data(let status, let extra, let body):
            for (name, value) in extra { headers.add(name: name, value: value) }
            let bytes = request.method == .HEAD ? ByteBuffer() : ByteBuffer(string: body)
            if !headers.contains(name: "Content-Type") { headers.add(name: "Content-Type", value: configuration.defaultContentType) }
            headers.add(name: "Content-Length", value: String(request.method == .HEAD ? 0 : bytes.readableBytes))
            try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
            if bytes.readableBytes > 0 { try await outbound.write(.body(.byteBuffer(bytes))) }
            try await outbound.write(.end(nil))
        case .empty(let status, let extra):
            for (name, value) in extra { headers.add(name: name, value: value) }
            if !headers.contains(name: "Content-Length") && status != .notModified { headers.add(name: "Content-Length", value: "0") }
            try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
            try await outbound.write(.end(nil))
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
        let outbound = connection.outbound
        for (name, value) in extra { headers.add(name: name, value: value) }
        headers.add(name: "Content-Length", value: String(Int64(prefix.count) + Int64(range.count)))
        let descriptor = try await threadPool.runIfActive { open(path, O_RDONLY | O_CLOEXEC) }
        guard descriptor >= 0 else {
            // The file was replaced between the lookup and the read: its new body is
            // a different file, the old one is gone. Report it rather than send a mix.
            let (type, body) = refusal(.internalServerError, "the object changed while it was read; retry")
            try await write(.data(.internalServerError, [("Content-Type", type)], body), for: request, requestID: requestID,
                            connection: connection)
            return
        }
        defer { close(descriptor) }
        try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
        if !prefix.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: prefix)))) }
        var offset = range.lowerBound
        let end = range.upperBound
        while offset < end {
            let want = Int(min(1 << 20, end - offset))
            let at = offset
            let buffer = try await threadPool.runIfActive { () throws -> ByteBuffer in
                var buffer = ByteBufferAllocator().buffer(capacity: want)
                let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { pointer in
                    max(0, pread(descriptor, pointer.baseAddress!, want, off_t(at)))
                }
                guard count > 0 else {
                    throw HTTPRequestError(code: "InternalError", status: .internalServerError, message: "the file ended early")
                }
                return buffer
            }
            offset += Int64(buffer.readableBytes)
            try await outbound.write(.body(.byteBuffer(buffer)))
        }
        try await outbound.write(.end(nil))
    }
}
