#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open, read-only media file read with positioned reads (`pread`), so that many
/// sessions can share one descriptor without a shared file offset.
public final class MediaFile: @unchecked Sendable {
    public let path: String
    public let size: Int64
    /// Size and modification time together identify one version of the file for caches.
    public let identity: FileIdentity
    private let descriptor: Int32

    public struct FileIdentity: Hashable, Sendable {
        public let path: String
        public let size: Int64
        public let modifiedSeconds: Int
        public let modifiedNanoseconds: Int
    }

    /// Opens a regular file; anything else (a folder, a device, a missing path) is nil.
    public init?(path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return nil
        }
        self.path = path
        self.descriptor = fd
        self.size = Int64(info.st_size)
        #if canImport(Darwin)
        let modified = info.st_mtimespec
        #else
        let modified = info.st_mtim
        #endif
        self.identity = FileIdentity(
            path: path, size: Int64(info.st_size),
            modifiedSeconds: Int(modified.tv_sec), modifiedNanoseconds: Int(modified.tv_nsec))
    }

    deinit { close(descriptor) }

    /// Reads up to `buffer.count` bytes at `offset`; fewer only at the end of the file.
    public func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(MediaFormatError) -> Int {
        var done = 0
        while done < buffer.count {
            let result = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if result < 0 {
                if errno == EINTR { continue }
                throw .io(String(cString: strerror(errno)))
            }
            if result == 0 { break }
            done += result
        }
        return done
    }

    /// Reads exactly `count` bytes at `offset`, or fails as truncated.
    public func read(at offset: Int64, count: Int) throws(MediaFormatError) -> [UInt8] {
        guard count > 0 else { return [] }
        guard offset >= 0, offset <= size else { throw .truncated(needed: count, available: 0) }
        var result: Result<Int, MediaFormatError> = .success(0)
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(MediaFormatError) {
                let got = try read(at: offset, into: UnsafeMutableRawBufferPointer(buffer))
                initialized = got
                result = .success(got)
            } catch {
                initialized = 0
                result = .failure(error)
            }
        }
        let got = try result.get()
        guard got == count else { throw .truncated(needed: count, available: got) }
        return bytes
    }
}

/// Reads small pieces of a file through one window of read-ahead, so that walking tag
/// headers costs one system call per window rather than one per tag. Large pieces are
/// read directly. Memory stays bounded by the window size whatever the file size.
public struct WindowedFileReader {
    public let file: MediaFile
    private var window: [UInt8] = []
    private var windowStart: Int64 = 0
    private let windowSize: Int

    public init(file: MediaFile, windowSize: Int = 32 * 1024) {
        self.file = file
        self.windowSize = windowSize
    }

    public mutating func read(at offset: Int64, count: Int) throws(MediaFormatError) -> [UInt8] {
        guard count > 0 else { return [] }
        guard offset >= 0, count <= Int.max - Int(offset), offset + Int64(count) <= file.size else {
            throw .truncated(needed: count, available: Int(max(0, file.size - offset)))
        }
        if offset >= windowStart, offset + Int64(count) <= windowStart + Int64(window.count) {
            let start = Int(offset - windowStart)
            return Array(window[start..<start + count])
        }
        if count > windowSize / 2 {
            return try file.read(at: offset, count: count)
        }
        let length = Int(min(Int64(windowSize), file.size - offset))
        window = try file.read(at: offset, count: length)
        windowStart = offset
        return Array(window[0..<count])
    }
}
