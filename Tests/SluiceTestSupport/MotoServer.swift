import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `moto_server` (PyPI `moto[server]`), an S3 implementation we did not write, on a free
/// loopback port: the peer the external store backend is tested against.
public final class MotoServer: @unchecked Sendable {
    public let port: Int
    public var endpoint: String { "http://127.0.0.1:\(port)" }
    private let process: Process
    /// moto accepts any key pair unless told to enforce IAM.
    public static let accessKey = "sluice-test"
    public static let secretKey = "sluice-test-secret"

    public static func start() throws -> MotoServer {
        let executable = try ExternalTool.require("moto_server", install: "python3 -m pip install 'moto[server]'")
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-H", "127.0.0.1", "-p", "\(port)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let server = MotoServer(port: port, process: process)
        // Python takes a moment to import moto; wait until it accepts connections.
        for _ in 0..<150 {
            if canConnect(port: port) { return server }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        server.stop()
        throw ExternalTool.Failure(description: "moto_server did not start listening on port \(port)")
    }

    private init(port: Int, process: Process) {
        self.port = port
        self.process = process
    }

    deinit { stop() }

    /// SIGKILL, not SIGTERM: a child started from one of Swift's worker threads inherits
    /// that thread's signal mask, with SIGTERM blocked, so moto would never see it. The
    /// server keeps everything in memory; nothing is lost.
    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// A port the kernel just handed out, released for the server to take.
    public static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else { throw ExternalTool.Failure(description: "cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func canConnect(port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
