import Foundation

/// `moto_server` (PyPI `moto[server]`), an S3 implementation we did not write, on a free
/// loopback port: the peer the external store backend is tested against.
public final class MotoServer: Sendable {
    public var port: Int { peer.port }
    public var endpoint: String { "http://127.0.0.1:\(port)" }
    private let peer: PeerProcess
    /// moto accepts any key pair unless told to enforce IAM.
    public static let accessKey = "sluice-test"
    public static let secretKey = "sluice-test-secret"

    public static func start() throws -> MotoServer {
        let executable = try ExternalTool.require("moto_server", install: "python3 -m pip install 'moto[server]'")
        let port = try PeerProcess.freePort()
        // Python takes a moment to import moto.
        return MotoServer(peer: try PeerProcess(executable, ["-H", "127.0.0.1", "-p", "\(port)"], port: port, name: "moto_server"))
    }

    private init(peer: PeerProcess) {
        self.peer = peer
    }

    public func stop() { peer.stop() }
}
