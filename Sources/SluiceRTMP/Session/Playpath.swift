import SluiceMedia

/// A stream name as players send it in `play`, resolved to the object keys to try.
///
/// FMS rules: `name` and `name.flv` are FLV; `mp4:name.ext` (or `mp4:name`, trying the MP4
/// family's extensions) is MP4; `mp3:song` and `mp3:song.mp3` are MP3. A query string
/// (`?token=…`) is not part of the name.
public struct Playpath: Equatable, Sendable {
    public var container: MediaContainer
    /// Object keys to try, in order.
    public var candidateKeys: [String]

    static let mp4Extensions = ["mp4", "f4v", "m4v", "mov"]

    public init?(_ requested: String) {
        var name = requested
        if let query = name.firstIndex(of: "?") { name = String(name[..<query]) }
        let lowered = name.lowercased()
        let stem: String
        if lowered.hasPrefix("mp4:") || lowered.hasPrefix("f4v:") {
            container = .mp4
            stem = String(name.dropFirst(4))
            if let ext = Self.pathExtension(stem), Self.mp4Extensions.contains(ext) || ext == "m4a" || ext == "3gp" {
                candidateKeys = [stem]
            } else {
                candidateKeys = Self.mp4Extensions.map { stem + "." + $0 }
            }
        } else if lowered.hasPrefix("mp3:") {
            container = .mp3
            stem = String(name.dropFirst(4))
            candidateKeys = [Self.pathExtension(stem) == "mp3" ? stem : stem + ".mp3"]
        } else {
            stem = lowered.hasPrefix("flv:") ? String(name.dropFirst(4)) : name
            switch Self.pathExtension(stem) {
            case "flv":
                container = .flv
                candidateKeys = [stem]
            case let ext? where Self.mp4Extensions.contains(ext):
                // FMS wants mp4: here; players that omit it still mean the MP4 file.
                container = .mp4
                candidateKeys = [stem]
            case "mp3":
                container = .mp3
                candidateKeys = [stem]
            default:
                container = .flv
                candidateKeys = [stem + ".flv"]
            }
        }
        guard !stem.isEmpty, candidateKeys.allSatisfy(ObjectKey.isSafe) else { return nil }
    }

    static func pathExtension(_ name: String) -> String? {
        guard let lastComponent = name.split(separator: "/").last, let dot = lastComponent.lastIndex(of: "."),
              dot != lastComponent.startIndex
        else { return nil }
        return lastComponent[lastComponent.index(after: dot)...].lowercased()
    }
}
