#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the server finds media: objects by bucket and key.
///
/// The seam between playing and storing. A folder per bucket implements it today; the
/// bucket store implements it with ACLs and object metadata.
public protocol MediaLibrary: Sendable {
    /// Opens the object for streaming, or nil when it does not exist or may not be streamed.
    func openMedia(bucket: String, key: String) -> MediaFile?
    /// False when opening may wait on the network: then it happens only off the event loop.
    var opensWithoutWaiting: Bool { get }
    /// True when the object exists but may not be streamed, asked after `openMedia` gave
    /// nil so that the log can say "private" rather than "not found". Cheap libraries
    /// answer; one that would have to ask a remote service says false.
    func isPrivateObject(bucket: String, key: String) -> Bool
}

extension MediaLibrary {
    public var opensWithoutWaiting: Bool { true }
    public func isPrivateObject(bucket: String, key: String) -> Bool { false }
}

/// Checks on object keys and bucket names that every library applies before touching a path.
public enum ObjectKey {
    /// A key is a relative path of non-empty components, none of them "." or "..", without
    /// NUL or backslash: nothing that could name a file outside its bucket.
    public static func isSafe(_ key: String) -> Bool {
        guard !key.isEmpty, !key.hasPrefix("/"), !key.contains("\0"), !key.contains("\\") else { return false }
        return key.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part != "." && part != ".."
        }
    }

    /// A key the store can hold: 1 to 1024 bytes of UTF-8 without NUL, and no `.` or
    /// `..` component, which an external store under a prefix might resolve out of it.
    /// Folder markers (`dir/`), `a//b` and ` ` are keys, as S3 has them; only `isSafe`
    /// keys become file paths.
    public static func isStorable(_ key: String) -> Bool {
        guard !key.isEmpty, key.utf8.count <= 1024, !key.utf8.contains(0) else { return false }
        return !key.split(separator: "/", omittingEmptySubsequences: false).contains { $0 == "." || $0 == ".." }
    }

    /// A name a new bucket may take, by S3's rules: a valid name that starts and ends with
    /// a letter or digit, has no dot beside a dot or hyphen, and is not an IPv4 address.
    public static func isValidNewBucketName(_ name: String) -> Bool {
        guard isValidBucketName(name), let first = name.utf8.first, let last = name.utf8.last else { return false }
        let alphanumeric = { (byte: UInt8) in (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) }
        guard alphanumeric(first), alphanumeric(last), !name.contains(".-"), !name.contains("-.") else { return false }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return !(parts.count == 4 && parts.allSatisfy { UInt8($0) != nil })
    }

    /// A bucket name as S3 allows it: 3–63 of lower-case letters, digits, dots and hyphens.
    public static func isValidBucketName(_ name: String) -> Bool {
        guard (3...63).contains(name.utf8.count), name != "..", !name.contains("..") else { return false }
        return name.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2E || $0 == 0x2D }
    }
}

/// Buckets as folders under one root: `ROOT/BUCKET/KEY`.
public struct FolderMediaLibrary: MediaLibrary {
    public let root: String

    public init(root: String) {
        self.root = root
    }

    public func path(bucket: String, key: String) -> String? {
        guard ObjectKey.isValidBucketName(bucket), ObjectKey.isSafe(key) else { return nil }
        return root + "/" + bucket + "/" + key
    }

    public func openMedia(bucket: String, key: String) -> MediaFile? {
        guard let path = path(bucket: bucket, key: key) else { return nil }
        // A symbolic link inside the bucket must not lead outside it.
        guard let resolved = Self.realPath(path), let bucketRoot = Self.realPath(root + "/" + bucket),
              resolved.hasPrefix(bucketRoot + "/")
        else { return nil }
        return MediaFile(path: resolved)
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
