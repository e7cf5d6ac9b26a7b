import Foundation
import Logging
import SluiceCommandLine
import SluiceStore

/// Which bucket store the commands work on: the embedded one in the data folder (the
/// default), or one external S3-compatible bucket when `store.backend` is `s3`. Every
/// command reads the same settings (`DATA/sluice.yml`, then `SLUICE_STORE_*` variables),
/// so `sluice serve`, `sluice bucket` and the job runner always agree.
enum StoreBackend {
    static let help = """
        store.backend (local) keeps objects in DATA/; with s3 they live in one bucket
        of an external S3-compatible service: store.endpoint (http(s)://HOST:PORT),
        store.region (us-east-1), store.bucket, store.prefix (a folder in it),
        store.access-key, store.secret-key. Played objects are then cached in
        DATA/cache, trimmed to store.cache-size-mb (10240). The embedded S3 API is
        off then: the service's own API is the one to use.
        """

    /// The external service's settings, or nil for the embedded store.
    static func external(_ settings: Settings) throws(Settings.Problem) -> ExternalStoreConfiguration? {
        let backend = settings.string("store.backend").lowercased()
        switch backend {
        case "local": return nil
        case "s3": break
        default: throw Settings.Problem(description: "store.backend must be local or s3, not '\(backend)'")
        }
        func required(_ key: String) throws(Settings.Problem) -> String {
            let value = settings.string(key, default: "")
            if value.isEmpty {
                throw Settings.Problem(description: "store.backend is s3, so \(key) must be set (in sluice.yml or \(Settings.environmentName(key)))")
            }
            return value
        }
        var configuration = ExternalStoreConfiguration(endpoint: try required("store.endpoint"), bucket: try required("store.bucket"),
                                                       accessKey: try required("store.access-key"), secretKey: try required("store.secret-key"))
        configuration.region = settings.string("store.region")
        configuration.prefix = settings.string("store.prefix")
        return configuration
    }

    static func open(folder: DataFolder, settings: Settings) throws -> any ObjectStore {
        if let configuration = try external(settings) {
            return try RemoteObjectStore(configuration: configuration)
        }
        return try LocalObjectStore(dataFolder: folder.path)
    }

    /// For the commands that take no settings flags: reads `sluice.yml` and the environment.
    static func open(folder: DataFolder) throws -> any ObjectStore {
        try open(folder: folder, settings: try Settings.load(dataFolder: folder.path))
    }
}
