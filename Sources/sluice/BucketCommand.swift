import ArgumentParser
import Foundation
import SluiceCommandLine
import SluiceStore

struct BucketCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bucket",
        abstract: "Manage buckets and objects in the store.",
        discussion: """
            Works on the store directly, also while `sluice serve` runs: the server sees
            changes at once. Only public-read objects stream over RTMP. The store is the
            data folder's, or the external S3-compatible bucket when store.backend is s3
            in DATA/sluice.yml (or SLUICE_STORE_BACKEND=s3 and the other SLUICE_STORE_*
            variables).

              sluice bucket mb media
              sluice bucket put talk.flv media/talks/talk.flv --acl public-read
              sluice bucket ls media/talks/
              sluice bucket acl media/talks/talk.flv private
              sluice bucket get media/talks/talk.flv copy.flv
              sluice bucket rm media/talks/talk.flv
            """,
        subcommands: [MakeBucket.self, List.self, Put.self, Get.self, Remove.self, SetACL.self]
    )

    /// `BUCKET/KEY` into its parts.
    static func split(_ location: String) throws -> (String, String) {
        guard let slash = location.firstIndex(of: "/"), slash != location.startIndex, location.index(after: slash) != location.endIndex else {
            throw ValidationError("'\(location)' is not BUCKET/KEY")
        }
        return (String(location[..<slash]), String(location[location.index(after: slash)...]))
    }

    struct MakeBucket: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "mb", abstract: "Create a bucket.")
        @Argument var name: String
        @OptionGroup var location: DataLocation
        func run() throws {
            try location.store().createBucket(name)
            print("created bucket \(name)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List buckets, or the objects under BUCKET[/PREFIX].")
        @Argument var target: String?
        @Flag(name: .long, help: "List every key under the prefix, not one folder level.") var recursive = false
        @OptionGroup var location: DataLocation
        func run() throws {
            let store = try location.store()
            guard let target else {
                for bucket in try store.listBuckets() { print("\(Self.date(bucket.created))  \(bucket.name)") }
                return
            }
            let bucket = String(target.prefix { $0 != "/" })
            let prefix = target.count > bucket.count ? String(target.dropFirst(bucket.count + 1)) : ""
            var token: String?
            repeat {
                let page = try store.listObjects(bucket: bucket, prefix: prefix, delimiter: recursive ? nil : "/", continuationToken: token)
                for common in page.commonPrefixes { print("                           PRE \(common)") }
                for object in page.objects {
                    print("\(Self.date(object.lastModified)) \(String(object.size).leftPad(10)) \(object.acl.rawValue.leftPad(11))  \(object.key)")
                }
                token = page.isTruncated ? page.nextContinuationToken : nil
            } while token != nil
        }
        static func date(_ date: Date) -> String {
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
            formatter.timeZone = TimeZone(identifier: "UTC")
            return formatter.string(from: date)
        }
    }

    struct Put: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Upload FILE as BUCKET/KEY (private unless --acl public-read).")
        @Argument var file: String
        @Argument var destination: String
        @Option(name: .long, help: "private or public-read.") var acl: String = "private"
        @Option(name: .long, help: "Content type; guessed from the key otherwise.") var contentType: String?
        @OptionGroup var location: DataLocation
        func run() throws {
            guard let access = ObjectACL(rawValue: acl) else { throw ValidationError("--acl must be private or public-read") }
            let (bucket, key) = try BucketCommand.split(destination)
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file, isDirectory: &isFolder) else {
                throw CommandFailure("\(file) does not exist")
            }
            guard !isFolder.boolValue else { throw CommandFailure("\(file) is a folder; put takes one file") }
            guard FileManager.default.isReadableFile(atPath: file) else { throw CommandFailure("\(file) cannot be read (permission denied)") }
            let info = try location.store().putObject(bucket: bucket, key: key, file: file, contentType: contentType, acl: access, metadata: [:])
            print("put \(bucket)/\(key) (\(info.size) bytes, etag \(info.etag), \(info.acl.rawValue))")
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Download BUCKET/KEY to FILE (or standard output).")
        @Argument var source: String
        @Argument var file: String?
        @OptionGroup var location: DataLocation
        func run() throws {
            let (bucket, key) = try BucketCommand.split(source)
            let store = try location.store()
            if let file {
                let folder = (file as NSString).deletingLastPathComponent
                var isFolder: ObjCBool = false
                guard folder.isEmpty || (FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) && isFolder.boolValue) else {
                    throw CommandFailure("cannot write \(file): the folder \(folder) does not exist")
                }
                try store.getObject(bucket: bucket, key: key, toFile: file)
            } else {
                // Through a temporary file: the body streams, whatever its size.
                let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-get-\(UUID().uuidString)").path
                defer { try? FileManager.default.removeItem(atPath: temporary) }
                try store.getObject(bucket: bucket, key: key, toFile: temporary)
                guard let input = FileHandle(forReadingAtPath: temporary) else { throw CommandFailure("cannot read \(temporary)") }
                while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty { FileHandle.standardOutput.write(chunk) }
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete BUCKET/KEY, or an empty BUCKET.")
        @Argument var target: String
        @OptionGroup var location: DataLocation
        func run() throws {
            let store = try location.store()
            if target.contains("/") {
                let (bucket, key) = try BucketCommand.split(target)
                _ = try store.headObject(bucket: bucket, key: key)
                try store.deleteObject(bucket: bucket, key: key)
            } else {
                try store.deleteBucket(target)
            }
            print("removed \(target)")
        }
    }

    struct SetACL: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "acl", abstract: "Set BUCKET/KEY to private or public-read.")
        @Argument var target: String
        @Argument var acl: String
        @OptionGroup var location: DataLocation
        func run() throws {
            guard let access = ObjectACL(rawValue: acl) else { throw ValidationError("the ACL must be private or public-read") }
            let (bucket, key) = try BucketCommand.split(target)
            try location.store().setACL(bucket: bucket, key: key, acl: access)
            print("\(bucket)/\(key) is \(access.rawValue)")
        }
    }
}

extension StoreError: LocalizedError {
    public var errorDescription: String? { description }
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
