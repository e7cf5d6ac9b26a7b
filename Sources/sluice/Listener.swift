import Foundation
import NIOCore
import SluiceCommandLine

/// Turns a listener's bind failure into a sentence that says which listener, which
/// address, and what to do, instead of NIO's `bind(descriptor:ptr:bytes:)` and errno.
enum Listener {
    @discardableResult
    static func bind<Result>(_ listener: String, host: String, port: Int, flag: String,
                             _ start: () async throws -> Result) async throws -> Result {
        do {
            return try await start()
        } catch {
            let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            var text = "\(listener) cannot bind \(address): \(reason(error))"
            if let code = (error as? IOError)?.errnoCode {
                switch code {
                case EADDRINUSE: text += " (another sluice serve, or another server? use \(flag), or 0 for any free port)"
                case EACCES: text += " (ports below 1024 need root or CAP_NET_BIND_SERVICE; use \(flag))"
                case EADDRNOTAVAIL: text += " (this machine has no such address; use --rtmp-host)"
                default: break
                }
            }
            throw CommandFailure(text)
        }
    }

    /// The system's words for a socket error ("address already in use").
    static func reason(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
        return "\(error)"
    }
}
