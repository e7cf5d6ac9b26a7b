import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The renditions of one asset, from the manifest the encoder publishes beside them
/// (`.json`, `.smil` or `.f4m`), highest bitrate first.
public struct Ladder: Sendable, Equatable {
    public struct Rung: Sendable, Equatable {
        /// The playpath within the application (`talks/keynote/720p`).
        public var stream: String
        /// Video and audio together, kbit/s.
        public var kilobits: Int

        public init(stream: String, kilobits: Int) {
            self.stream = stream
            self.kilobits = kilobits
        }
    }

    public var rungs: [Rung]

    public init(rungs: [Rung]) {
        self.rungs = rungs.sorted { $0.kilobits > $1.kilobits }
    }

    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads a manifest by its extension; SMIL's `.flv` sources become playpaths.
    public static func load(path: String) throws -> Ladder {
        guard let data = FileManager.default.contents(atPath: path) else { throw Problem(description: "cannot read \(path)") }
        let ladder: Ladder
        switch (path as NSString).pathExtension.lowercased() {
        case "json": ladder = try json(data)
        case "smil": ladder = try xml(data, element: "video", stream: "src", bitrate: "system-bitrate", bitrateUnit: 1000)
        case "f4m": ladder = try xml(data, element: "media", stream: "url", bitrate: "bitrate", bitrateUnit: 1)
        default: throw Problem(description: "\(path): a ladder manifest is .json, .smil or .f4m")
        }
        guard !ladder.rungs.isEmpty else { throw Problem(description: "\(path) lists no renditions") }
        return ladder
    }

    /// The encoder's JSON summary: `rungs[].stream`, `videoBitrate`, `audioBitrate`.
    static func json(_ data: Data) throws -> Ladder {
        struct Summary: Decodable {
            struct Rung: Decodable {
                var stream: String
                var videoBitrate: Int?
                var audioBitrate: Int?
            }
            var rungs: [Rung]
        }
        let summary = try JSONDecoder().decode(Summary.self, from: data)
        return Ladder(rungs: summary.rungs.map { Rung(stream: $0.stream, kilobits: ($0.videoBitrate ?? 0) + ($0.audioBitrate ?? 0)) })
    }

    static func xml(_ data: Data, element: String, stream: String, bitrate: String, bitrateUnit: Int) throws -> Ladder {
        final class Collector: NSObject, XMLParserDelegate {
            let element: String, stream: String, bitrate: String, unit: Int
            var rungs: [Rung] = []
            init(element: String, stream: String, bitrate: String, unit: Int) {
                self.element = element
                self.stream = stream
                self.bitrate = bitrate
                self.unit = unit
            }
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                        attributes: [String: String] = [:]) {
                guard name == element, var path = attributes[stream], let rate = attributes[bitrate].flatMap(Int.init), rate > 0 else { return }
                if path.hasSuffix(".flv") { path.removeLast(4) }
                rungs.append(Rung(stream: path, kilobits: rate / unit))
            }
        }
        let collector = Collector(element: element, stream: stream, bitrate: bitrate, unit: bitrateUnit)
        let parser = XMLParser(data: data)
        parser.delegate = collector
        guard parser.parse() else { throw Problem(description: "the manifest is not well-formed XML") }
        return Ladder(rungs: collector.rungs)
    }
}
