import Foundation

/// The RTMP base URL that manifests point players at (`rtmp://HOST:PORT/cfx/st`). One
/// setting of the data folder, `public-url`, so that `serve`, `watch`, `jobs` and
/// `encode --data` agree; without it, a guess from the machine's host name and the
/// RTMP port, which the commands print so that a wrong guess is seen.
public struct PublicURL: Equatable, Sendable {
    public var url: String
    /// True when no `public-url` was set.
    public var guessed: Bool

    public init(url: String, guessed: Bool) {
        self.url = url
        self.guessed = guessed
    }

    /// The application every streaming distribution plays from.
    public static let application = "cfx/st"

    /// `public-url` when set (checked), else `rtmp://HOSTNAME:PORT/cfx/st` where PORT is
    /// `rtmpPort` (the port really bound, when known) or the `rtmp.port` setting.
    public static func resolve(_ settings: Settings, rtmpPort: Int? = nil) throws(Settings.Problem) -> PublicURL {
        if let entry = settings.values["public-url"] {
            return PublicURL(url: try parse(entry.value, source: entry.source), guessed: false)
        }
        let port: Int
        if let rtmpPort {
            port = rtmpPort
        } else {
            port = try settings.int("rtmp.port", range: 0...65535)
        }
        let bound = settings.string("rtmp.host")
        let host = ["0.0.0.0", "::", "[::]", ""].contains(bound) ? hostName() : bound
        let shownHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return PublicURL(url: "rtmp://\(shownHost):\(port)/\(application)", guessed: true)
    }

    /// A `public-url` value: rtmp, rtmpt, rtmpe or rtmpte, a host, an optional port, and
    /// the application (`/cfx/st` when the path is empty). No trailing slash.
    public static func parse(_ text: String, source: String) throws(Settings.Problem) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let components = URLComponents(string: trimmed), let scheme = components.scheme?.lowercased(),
              ["rtmp", "rtmpt", "rtmpe", "rtmpte"].contains(scheme), let host = components.host, !host.isEmpty,
              components.query == nil, components.fragment == nil, components.user == nil else {
            throw Settings.Problem(description: "\(source): 'public-url' must be like rtmp://media.example.com/cfx/st, not '\(text)'")
        }
        var path = components.path
        while path.hasSuffix("/") { path.removeLast() }
        if path.isEmpty { path = "/" + application }
        let port = components.port.map { ":\($0)" } ?? ""
        return "\(scheme)://\(components.percentEncodedHost ?? host)\(port)\(path)"
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(cString: buffer)
        return name.isEmpty ? "localhost" : name
    }

    /// The line a command prints when it guessed, so a wrong guess is seen at once.
    public var notice: String {
        guessed
            ? "manifests point players at \(url) (guessed from the host name; set public-url in sluice.yml or SLUICE_PUBLIC_URL)"
            : "manifests point players at \(url)"
    }
}
