import Foundation

/// The presets in a folder (`presets/` at the top of the project by default), each a
/// `NAME.yml`; or one preset file named by path.
public struct PresetLibrary: Sendable {
    public let folder: String

    public init(folder: String) {
        self.folder = folder
    }

    /// Every preset in the folder, by name; the first bad one stops the listing with its error.
    public func all() throws(PresetError) -> [Preset] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".yml") || $0.hasSuffix(".yaml") }.sorted()
        var presets: [Preset] = []
        for name in names {
            presets.append(try load(path: folder + "/" + name))
        }
        return presets
    }

    /// A preset by name (`dynamic-streaming`) or by path (`./my-ladder.yml`).
    public func preset(_ nameOrPath: String) throws(PresetError) -> Preset {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".yml") || nameOrPath.hasSuffix(".yaml") {
            return try load(path: nameOrPath)
        }
        for candidate in [folder + "/" + nameOrPath + ".yml", folder + "/" + nameOrPath + ".yaml"]
        where FileManager.default.fileExists(atPath: candidate) {
            return try load(path: candidate)
        }
        let known = (try? all().map(\.name).joined(separator: ", ")) ?? ""
        throw PresetError(file: folder, line: nil, reason: "no preset named '\(nameOrPath)'\(known.isEmpty ? "" : " (there are: \(known))")")
    }

    public func load(path: String) throws(PresetError) -> Preset {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PresetError(file: path, line: nil, reason: "cannot read the file")
        }
        return try Preset.parse(String(decoding: data, as: UTF8.self), file: path)
    }
}
