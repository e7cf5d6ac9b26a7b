import SluiceMedia

/// Turns a playpath on a route into an open media reader.
public struct MediaResolver: Sendable {
    public let library: any MediaLibrary
    public let cache: MediaIndexCache

    public init(library: any MediaLibrary, cache: MediaIndexCache = MediaIndexCache()) {
        self.library = library
        self.cache = cache
    }

    public enum Failure: Error, Equatable, Sendable {
        /// No such object (or a name that is refused as if it did not exist).
        case notFound
        /// The object exists but is private. Players are answered as for `notFound`; the
        /// difference is for the server's log.
        case privateObject(key: String)
        /// The object exists but is not media Sluice can play.
        case unplayable(key: String, reason: String)
    }

    /// Opens the first candidate object that exists. The first open of a file scans it to
    /// build its index: call this off the event loop, or with `onlyIfIndexed`, which gives
    /// nil instead of scanning (then a few system calls are all it costs).
    public func open(_ name: String, route: StreamRoute, onlyIfIndexed: Bool = false) -> Result<ReaderBox, Failure>? {
        guard let playpath = Playpath(name) else { return .failure(.notFound) }
        if onlyIfIndexed, !library.opensWithoutWaiting { return nil }
        var refused: String?
        for candidate in playpath.candidateKeys {
            let key = route.keyPrefix + candidate
            guard let file = library.openMedia(bucket: route.bucket, key: key) else {
                if refused == nil, library.isPrivateObject(bucket: route.bucket, key: key) { refused = key }
                continue
            }
            if onlyIfIndexed, !cache.contains(file.identity) { return nil }
            do {
                return .success(ReaderBox(reader: try playpath.container.openReader(file, cache: cache), key: key))
            } catch {
                return .failure(.unplayable(key: key, reason: error.description))
            }
        }
        return .failure(refused.map { .privateObject(key: $0) } ?? .notFound)
    }
}

/// Hands a freshly opened reader from the thread that opened it to the event loop that
/// plays it. Nothing else holds the reader, so moving it is safe.
public struct ReaderBox: @unchecked Sendable {
    public let reader: any MediaReader
    public let key: String
}
