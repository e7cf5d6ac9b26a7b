import SluiceMedia

/// The RTMP server's view of the store: only public-read objects stream (CloudFront
/// streamed only publicly readable objects).
public struct StoreMediaLibrary: MediaLibrary {
    public let store: LocalObjectStore

    public init(store: LocalObjectStore) {
        self.store = store
    }

    public func openMedia(bucket: String, key: String) -> MediaFile? {
        guard ObjectKey.isSafe(key), let path = store.publicBodyPath(bucket: bucket, key: key) else { return nil }
        return MediaFile(path: path)
    }

    public func isPrivateObject(bucket: String, key: String) -> Bool {
        guard ObjectKey.isSafe(key), let info = try? store.headObject(bucket: bucket, key: key) else { return false }
        return info.acl != .publicRead
    }
}
