import Foundation
import NIOCore
import SluiceHTTP

/// Listings: ListObjects (V1 and V2) and ListObjectVersions.
extension S3RequestHandler {
    static func listingParameters(_ call: S3Call) throws -> (prefix: String, delimiter: String?, maxKeys: Int, urlEncoded: Bool) {
        let maxKeys = try call.parameter("max-keys").map { text -> Int in
            guard let value = Int(text), value >= 0 else { throw S3Error.invalidArgument("max-keys must be a non-negative whole number") }
            return value
        } ?? 1000
        return (call.parameter("prefix") ?? "", call.parameter("delimiter").flatMap { $0.isEmpty ? nil : $0 }, maxKeys,
                call.parameter("encoding-type") == "url")
    }

    func listObjects(_ call: S3Call, bucket: String, version2: Bool) async throws -> S3Reply {
        let (prefix, delimiter, maxKeys, urlEncoded) = try Self.listingParameters(call)
        // Keys always come in order here; unordered listing cannot group by a delimiter.
        if call.parameter("allow-unordered") == "true", delimiter != nil {
            throw S3Error.invalidArgument("allow-unordered cannot be used with a delimiter")
        }
        func encoded(_ text: String) -> String { urlEncoded ? SignatureV4.encode(text, keepSlash: true) : text }
        // Sluice's continuation token is the base64 of the last key returned; a start-after
        // key or a V1 marker becomes one.
        var token = call.parameter(version2 ? "continuation-token" : "marker").flatMap { $0.isEmpty ? nil : $0 }
        if !version2, let marker = token { token = Self.token(fromMarker: marker, delimiter: delimiter) }
        if version2, token == nil, let after = call.parameter("start-after"), !after.isEmpty { token = Data(after.utf8).base64EncodedString() }
        if let given = token, Data(base64Encoded: given) == nil {
            throw S3Error.invalidArgument("The continuation token provided is incorrect")
        }
        let listing = maxKeys == 0
            ? ObjectListing(objects: [], commonPrefixes: [], isTruncated: false, nextContinuationToken: nil)
            : try await onStore { [token] in
                try $0.listObjects(bucket: bucket, prefix: prefix, delimiter: delimiter, continuationToken: token, maxKeys: maxKeys)
            }

        let showOwner = !version2 || call.parameter("fetch-owner") == "true"
        var xml = S3XMLWriter()
        xml.start("ListBucketResult", namespace: S3XMLWriter.namespace)
        xml.element("Name", bucket)
        // V1 leaves its Prefix as given (clients decode only V2's).
        xml.element("Prefix", version2 ? encoded(prefix) : prefix)
        if let delimiter { xml.element("Delimiter", encoded(delimiter)) }
        xml.element("MaxKeys", String(maxKeys))
        if urlEncoded { xml.element("EncodingType", "url") }
        xml.element("IsTruncated", listing.isTruncated ? "true" : "false")
        if version2 {
            xml.element("KeyCount", String(listing.objects.count + listing.commonPrefixes.count))
            if let given = call.parameter("continuation-token") { xml.element("ContinuationToken", given) }
            if let after = call.parameter("start-after") { xml.element("StartAfter", encoded(after)) }
            if let next = listing.nextContinuationToken { xml.element("NextContinuationToken", next) }
        } else {
            xml.element("Marker", encoded(call.parameter("marker") ?? ""))
            if listing.isTruncated, let next = listing.nextContinuationToken.flatMap(Self.marker(fromToken:)) {
                xml.element("NextMarker", encoded(next))
            }
        }
        for object in listing.objects {
            xml.element("Contents") {
                $0.element("Key", encoded(object.key))
                $0.element("LastModified", S3Date.iso8601(object.lastModified))
                $0.element("ETag", "\"\(object.etag)\"")
                $0.element("Size", String(object.size))
                $0.element("StorageClass", "STANDARD")
                // V1 always names the owner; V2 when asked to (fetch-owner).
                if showOwner { owner(&$0, call.users.resolvedID(object.access.owner), users: call.users) }
            }
        }
        for common in listing.commonPrefixes {
            xml.element("CommonPrefixes") { $0.element("Prefix", encoded(common)) }
        }
        xml.end()
        return .data(.ok, [], xml.text)
    }

    /// Versioning is never on, so each object is one version, `null`, the latest. Tools
    /// that empty a bucket before deleting it (Terraform, the conformance suites, `aws
    /// s3api list-object-versions`) list versions whatever the bucket's state.
    /// The store's token is the last key listed, or a common prefix followed by U+10FFFF
    /// (past every key under it). A marker is a key or a common prefix as S3 shows it.
    static func marker(fromToken token: String) -> String? {
        guard let data = Data(base64Encoded: token) else { return nil }
        let key = String(decoding: data, as: UTF8.self)
        return key.hasSuffix("\u{10FFFF}") ? String(key.dropLast()) : key
    }

    /// A marker ending in the delimiter names a common prefix already listed: the
    /// listing goes on past every key under it.
    static func token(fromMarker marker: String, delimiter: String?) -> String {
        let skip = delimiter.map { !$0.isEmpty && marker.hasSuffix($0) } ?? false
        return Data((marker + (skip ? "\u{10FFFF}" : "")).utf8).base64EncodedString()
    }

    func listObjectVersions(_ call: S3Call, bucket: String) async throws -> S3Reply {
        let (prefix, delimiter, maxKeys, urlEncoded) = try Self.listingParameters(call)
        func encoded(_ text: String) -> String { urlEncoded ? SignatureV4.encode(text, keepSlash: true) : text }
        let keyMarker = call.parameter("key-marker").flatMap { $0.isEmpty ? nil : $0 }
        let versionMarker = call.parameter("version-id-marker").flatMap { $0.isEmpty ? nil : $0 }
        if let versionMarker, versionMarker != "null" { throw S3Error.invalidArgument("Invalid version id specified") }
        if versionMarker != nil, keyMarker == nil {
            throw S3Error.invalidArgument("A version-id marker cannot be specified without a key marker.")
        }
        // The marker key's one version has been listed: the listing goes on after it.
        let token = keyMarker.map { Self.token(fromMarker: $0, delimiter: delimiter) }
        let listing = maxKeys == 0
            ? ObjectListing(objects: [], commonPrefixes: [], isTruncated: false, nextContinuationToken: nil)
            : try await onStore { try $0.listObjects(bucket: bucket, prefix: prefix, delimiter: delimiter, continuationToken: token, maxKeys: maxKeys) }

        var xml = S3XMLWriter()
        xml.start("ListVersionsResult", namespace: S3XMLWriter.namespace)
        xml.element("Name", bucket)
        xml.element("Prefix", encoded(prefix))
        xml.element("KeyMarker", encoded(keyMarker ?? ""))
        xml.element("VersionIdMarker", versionMarker ?? "")
        if listing.isTruncated, let next = listing.nextContinuationToken.flatMap(Self.marker(fromToken:)) {
            xml.element("NextKeyMarker", encoded(next))
            xml.element("NextVersionIdMarker", "null")
        }
        xml.element("MaxKeys", String(maxKeys))
        if let delimiter { xml.element("Delimiter", encoded(delimiter)) }
        if urlEncoded { xml.element("EncodingType", "url") }
        xml.element("IsTruncated", listing.isTruncated ? "true" : "false")
        for object in listing.objects {
            xml.element("Version") {
                $0.element("Key", encoded(object.key))
                $0.element("VersionId", "null")
                $0.element("IsLatest", "true")
                $0.element("LastModified", S3Date.iso8601(object.lastModified))
                $0.element("ETag", "\"\(object.etag)\"")
                $0.element("Size", String(object.size))
                $0.element("StorageClass", "STANDARD")
                owner(&$0, call.users.resolvedID(object.access.owner), users: call.users)
            }
        }
        for common in listing.commonPrefixes {
            xml.element("CommonPrefixes") { $0.element("Prefix", encoded(common)) }
        }
        xml.end()
        return .data(.ok, [], xml.text)
    }
}
