import Foundation

/// Where a job is. Running states are `probing`, `encoding` and `publishing`; `done`,
/// `failed` and `cancelled` are final.
public enum JobState: String, Sendable, CaseIterable, Codable {
    case queued, probing, encoding, publishing, done, failed, cancelled

    public var isRunning: Bool { self == .probing || self == .encoding || self == .publishing }
    public var isFinal: Bool { self == .done || self == .failed || self == .cancelled }
}

/// What to do: encode one input with a preset and publish it under
/// `BUCKET/PREFIX/ASSET/`.
public struct JobSpec: Sendable, Equatable, Codable {
    public var input: String
    public var preset: String
    public var bucket: String
    /// Key prefix without slashes at either end; may be empty.
    public var prefix: String
    /// The asset's folder name; by default the input's file name without extension.
    public var asset: String
    /// `private` or `public-read`.
    public var acl: String
    /// Higher runs first.
    public var priority: Int
    public var metadata: [String: String]
    public var webhook: String?
    /// Set for uploads that came through a watch folder: the folder, so the source can
    /// be moved to `done/` or `failed/` there.
    public var watchFolder: String?
    /// The name the file had in the watch folder.
    public var originalName: String?
    /// True: publishing leaves objects of a previous version of the asset in place. By
    /// default the asset is replaced as a whole (optional so that older rows decode).
    public var keepOld: Bool?

    public init(input: String, preset: String = "dynamic-streaming", bucket: String = "media", prefix: String = "", asset: String? = nil,
                acl: String = "public-read", priority: Int = 0, metadata: [String: String] = [:], webhook: String? = nil,
                watchFolder: String? = nil, originalName: String? = nil, keepOld: Bool = false) {
        self.input = input
        self.preset = preset
        self.bucket = bucket
        self.prefix = prefix.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        self.asset = asset ?? AssetName.from(originalName ?? input)
        self.acl = acl
        self.priority = priority
        self.metadata = metadata
        self.webhook = webhook
        self.watchFolder = watchFolder
        self.originalName = originalName
        self.keepOld = keepOld ? true : nil
    }

    /// The folder its objects go under: `PREFIX/ASSET`.
    public var keyPrefix: String { prefix.isEmpty ? asset : prefix + "/" + asset }
}

public struct Job: Sendable, Equatable {
    public var id: Int64
    public var spec: JobSpec
    public var state: JobState
    /// Why it failed (or the last transient failure it will retry after).
    public var reason: String?
    public var attempts: Int
    public var maxAttempts: Int
    public var nextAttemptAt: Date?
    /// 0...1 of the current stage.
    public var progress: Double
    /// What the current stage is doing ("4 rungs", "uploading 720p.flv").
    public var detail: String?
    /// Keys written to the bucket.
    public var published: [String]
    public var created: Date
    public var updated: Date
    public var started: Date?
    public var finished: Date?
    /// Where a watched upload is now that its job ended (in `done/` or `failed/`).
    public var settledSource: String?
}

public enum AssetName {
    /// The file name without its extension, with only characters safe in a key.
    public static func from(_ path: String) -> String {
        let base = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        let safe = base.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "-" }
        let name = String(safe).trimmingCharacters(in: CharacterSet(charactersIn: "."))
        return name.isEmpty ? "asset" : name
    }
}

public struct JobError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
