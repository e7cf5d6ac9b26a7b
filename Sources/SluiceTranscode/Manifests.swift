import Crypto
import Foundation

/// The files that describe an asset's ladder to players, written beside its renditions:
/// an F4M (Adobe Flash Media Manifest, for OSMF-style players), a SMIL `<switch>` (JW
/// Player, Wowza) and a JSON summary.
public enum Manifests {
    /// `baseURL` is the RTMP application URL; `streamPrefix` the key prefix of the asset's
    /// folder in the bucket (its stream names are `PREFIX/RUNG`).
    public static func write(_ result: EncodeResult, asset: String, folder: String, baseURL: String, streamPrefix: String) throws(TranscodeError) -> [String] {
        let renditions = result.renditions.sorted { $0.rung.totalBitrate > $1.rung.totalBitrate }
        let duration = renditions.map(\.summary.duration).max() ?? 0
        func stream(_ rendition: Rendition) -> String { (streamPrefix.isEmpty ? "" : streamPrefix + "/") + rendition.rung.name }

        var f4m = """
            <?xml version="1.0" encoding="UTF-8"?>
            <manifest xmlns="http://ns.adobe.com/f4m/1.0">
              <id>\(xml(asset))</id>
              <streamType>recorded</streamType>
              <duration>\(String(format: "%.3f", duration))</duration>
              <baseURL>\(xml(baseURL))</baseURL>

            """
        for rendition in renditions {
            let rung = rendition.rung
            f4m += "  <media url=\"\(xml(stream(rendition)))\" bitrate=\"\(rung.totalBitrate)\""
            if rung.hasVideo { f4m += " width=\"\(rung.width)\" height=\"\(rung.height)\"" }
            f4m += "/>\n"
        }
        f4m += "</manifest>\n"

        var smil = """
            <?xml version="1.0" encoding="UTF-8"?>
            <smil>
              <head>
                <meta base="\(xml(baseURL))"/>
              </head>
              <body>
                <switch>

            """
        for rendition in renditions {
            let rung = rendition.rung
            smil += "      <video src=\"\(xml(stream(rendition))).flv\" system-bitrate=\"\(rung.totalBitrate * 1000)\""
            if rung.hasVideo { smil += " width=\"\(rung.width)\" height=\"\(rung.height)\"" }
            smil += "/>\n"
        }
        smil += "    </switch>\n  </body>\n</smil>\n"

        var rungs: [[String: Any]] = []
        for rendition in renditions {
            let rung = rendition.rung
            rungs.append([
                "name": rung.name, "file": (rendition.path as NSString).lastPathComponent, "stream": stream(rendition),
                "width": rung.width, "height": rung.height, "frameRate": rung.frameRate,
                "videoBitrate": rung.videoBitrate, "audioBitrate": rung.audioBitrate, "audioCodec": rung.audioCodec.rawValue,
                "profile": rung.profile, "level": rung.level, "fileSize": rendition.summary.fileSize,
                "duration": rendition.summary.duration, "keyframes": rendition.summary.keyframeTimes.count,
                "sha256": try sha256(rendition.path),
                "mp4": rendition.mp4Path.map { ($0 as NSString).lastPathComponent } ?? NSNull(),
            ])
        }
        let summary: [String: Any] = [
            "asset": asset, "preset": result.ladder.preset.name, "source": (result.ladder.source.path as NSString).lastPathComponent,
            "duration": duration, "keyframeInterval": result.ladder.preset.keyframeInterval, "frameRate": result.ladder.frameRate,
            "baseURL": baseURL, "rungs": rungs, "encodeSeconds": result.seconds,
        ]
        let json: Data
        do {
            json = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
        } catch {
            throw TranscodeError("cannot write the JSON summary: \(error)")
        }
        var written: [String] = []
        for (name, data) in [(asset + ".f4m", Data(f4m.utf8)), (asset + ".smil", Data(smil.utf8)), (asset + ".json", json)] {
            let path = folder + "/" + name
            do {
                try data.write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw TranscodeError("cannot write \(path): \(error.localizedDescription)")
            }
            written.append(path)
        }
        return written
    }

    static func xml(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func sha256(_ path: String) throws(TranscodeError) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw TranscodeError("cannot read \(path)") }
        defer { try? handle.close() }
        var hash = SHA256()
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hash.update(data: chunk)
        }
        return hash.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
