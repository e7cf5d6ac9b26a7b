import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A webhook endpoint we did not write: Python's `http.server` on a free loopback port.
/// It answers the statuses it is given in turn (then 200 for ever) and records every POST
/// (path, answered status, JSON body) for the test to read.
public final class WebhookReceiver: Sendable {
    public struct Delivery: Sendable {
        public var path: String
        public var answered: Int
        public var body: [String: Any] { (try? JSONSerialization.jsonObject(with: raw)) as? [String: Any] ?? [:] }
        let raw: Data
    }

    public var port: Int { peer.port }
    public var url: String { "http://127.0.0.1:\(port)/hook" }
    private let peer: PeerProcess
    private let log: String

    static let script = """
        import http.server, json, sys
        port, log, statuses = int(sys.argv[1]), sys.argv[2], [int(s) for s in sys.argv[3].split(",") if s]
        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = statuses.pop(0) if statuses else 200
                with open(log, "a") as out:
                    out.write(json.dumps({"path": self.path, "status": status, "type": self.headers.get("Content-Type"),
                                          "body": body.decode()}) + "\\n")
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            def log_message(self, *args):
                pass
        http.server.ThreadingHTTPServer(("127.0.0.1", port), Hook).serve_forever()
        """

    /// `statuses`: what the first requests get, in order; later ones get 200.
    public static func start(answering statuses: [Int] = [], folder: String) throws -> WebhookReceiver {
        let port = try PeerProcess.freePort()
        let log = folder + "/webhook-\(port).jsonl"
        FileManager.default.createFile(atPath: log, contents: nil)
        let arguments = ["-c", script, "\(port)", log, statuses.map(String.init).joined(separator: ",")]
        return WebhookReceiver(peer: try PeerProcess(try ExternalTool.require("python3"), arguments, port: port, name: "the webhook receiver"), log: log)
    }

    private init(peer: PeerProcess, log: String) {
        self.peer = peer
        self.log = log
    }

    /// What arrived so far, in order.
    public var deliveries: [Delivery] {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return Delivery(path: object["path"] as? String ?? "", answered: object["status"] as? Int ?? 0,
                            raw: Data((object["body"] as? String ?? "").utf8))
        }
    }

    public func stop() { peer.stop() }
}
