import Foundation

/// The XML documents clients send as request bodies, read into plain values. Pure, so
/// that every path through them is unit-tested and fuzzed without a server.
public enum S3RequestBody {
    /// S3's limits on what one request may list.
    public static let maximumParts = 10_000
    public static let maximumObjectsToDelete = 1000

    /// CompleteMultipartUpload: the parts to join, as listed.
    public static func completedParts(_ document: Data) throws(S3Error) -> [(number: Int, etag: String)] {
        guard let root = S3XMLElement.parse(document), root.name == "CompleteMultipartUpload" else {
            throw S3Error.malformedXML("expected CompleteMultipartUpload")
        }
        let listed = root.all("Part")
        guard listed.count <= maximumParts else { throw S3Error.malformedXML("at most \(maximumParts) parts per upload") }
        var parts: [(number: Int, etag: String)] = []
        parts.reserveCapacity(listed.count)
        for part in listed {
            guard let text = part.value("PartNumber"), let etag = part.value("ETag") else {
                throw S3Error.malformedXML("each Part needs PartNumber and ETag")
            }
            guard let number = Int(text), (1...maximumParts).contains(number) else {
                throw S3Error.invalidArgument("Part number must be an integer between 1 and \(maximumParts), inclusive")
            }
            parts.append((number, etag))
        }
        return parts
    }

    /// DeleteObjects: the keys to delete, each with the version it names (if any) and the
    /// conditions it must meet (ETag, LastModifiedTime, Size), and whether to answer only
    /// the failures.
    public static func objectsToDelete(_ document: Data) throws(S3Error)
        -> (keys: [String], versions: [String?], conditions: [DeleteCondition?], quiet: Bool) {
        guard let root = S3XMLElement.parse(document), root.name == "Delete" else { throw S3Error.malformedXML("expected Delete") }
        let listed = root.all("Object")
        guard listed.count <= maximumObjectsToDelete else {
            throw S3Error.malformedXML("at most \(maximumObjectsToDelete) objects per request")
        }
        var keys: [String] = [], versions: [String?] = [], conditions: [DeleteCondition?] = []
        // Keys as sent: " " and "a " are keys of their own.
        for object in listed {
            guard let key = object.exactValue("Key") else { continue }
            var condition = DeleteCondition(etag: object.value("ETag").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) })
            if let text = object.value("LastModifiedTime") {
                guard let date = S3Date.parseISO8601(text) ?? S3Date.parseHTTP(text) else { throw S3Error.malformedXML("LastModifiedTime is not a date") }
                condition.lastModified = date
            }
            if let text = object.value("Size") {
                guard let size = Int64(text), size >= 0 else { throw S3Error.malformedXML("Size is not a size") }
                condition.size = size
            }
            keys.append(key)
            versions.append(object.value("VersionId"))
            conditions.append(condition == DeleteCondition() ? nil : condition)
        }
        return (keys, versions, conditions, root.value("Quiet")?.lowercased() == "true")
    }
}
