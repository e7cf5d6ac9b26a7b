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

    /// DeleteObjects: the keys to delete, each with the version it names (if any), and
    /// whether to answer only the failures.
    public static func objectsToDelete(_ document: Data) throws(S3Error) -> (keys: [String], versions: [String?], quiet: Bool) {
        guard let root = S3XMLElement.parse(document), root.name == "Delete" else { throw S3Error.malformedXML("expected Delete") }
        // Keys as sent: " " and "a " are keys of their own.
        let objects = root.all("Object").compactMap { object in object.exactValue("Key").map { ($0, object.value("VersionId")) } }
        guard objects.count <= maximumObjectsToDelete else {
            throw S3Error.malformedXML("at most \(maximumObjectsToDelete) objects per request")
        }
        return (objects.map(\.0), objects.map(\.1), root.value("Quiet")?.lowercased() == "true")
    }
}
