import Foundation

/// The ACLs requests carry: a canned `x-amz-acl`, `x-amz-grant-*` headers, or an
/// `AccessControlPolicy` body; and the `AccessControlPolicy` document answered.
/// Parsing is pure (fuzzed as `s3-xml`); naming users needs the directory.
public enum S3Grants {
    /// A grantee as a request names it, before it is looked up.
    public enum Named: Equatable, Sendable {
        case id(String)
        case email(String)
        case group(uri: String)
    }

    public struct Requested: Equatable, Sendable {
        public var grantee: Named
        public var permission: Permission
    }

    static let headers: [(name: String, permission: Permission)] = [
        ("x-amz-grant-read", .read), ("x-amz-grant-write", .write), ("x-amz-grant-read-acp", .readACP),
        ("x-amz-grant-write-acp", .writeACP), ("x-amz-grant-full-control", .fullControl),
    ]

    /// The most grants one ACL may hold, as S3 allows.
    public static let maximumGrants = 100

    /// One `x-amz-grant-*` value: `id="…", uri="…", emailAddress="…"`, comma separated.
    public static func parseHeader(_ value: String, permission: Permission) throws(S3Error) -> [Requested] {
        var grants: [Requested] = []
        for item in value.split(separator: ",", omittingEmptySubsequences: true) {
            let text = item.trimmingCharacters(in: .whitespaces)
            guard let equals = text.firstIndex(of: "=") else { throw S3Error.invalidArgument("a grant is type=\"value\", not '\(text)'") }
            let type = text[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            var name = text[text.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if name.count >= 2, name.hasPrefix("\""), name.hasSuffix("\"") { name = String(name.dropFirst().dropLast()) }
            guard !name.isEmpty else { throw S3Error.invalidArgument("a grant names nobody: '\(text)'") }
            switch type {
            case "id": grants.append(Requested(grantee: .id(name), permission: permission))
            case "emailaddress": grants.append(Requested(grantee: .email(name), permission: permission))
            case "uri": grants.append(Requested(grantee: .group(uri: name), permission: permission))
            default: throw S3Error.invalidArgument("a grantee is id, uri or emailAddress, not '\(type)'")
            }
            guard grants.count <= maximumGrants else { throw S3Error.invalidArgument("at most \(maximumGrants) grants") }
        }
        return grants
    }

    /// An `AccessControlPolicy` document: the owner it names and its grants.
    public static func parsePolicy(_ document: Data) throws(S3Error) -> (owner: String?, grants: [Requested]) {
        guard let root = S3XMLElement.parse(document), root.name == "AccessControlPolicy" else {
            throw S3Error("MalformedACLError", .badRequest, "The XML you provided was not well-formed or did not validate against our published schema.")
        }
        let listed = root.child("AccessControlList")?.all("Grant") ?? []
        guard listed.count <= maximumGrants else { throw S3Error("MalformedACLError", .badRequest, "at most \(maximumGrants) grants") }
        var grants: [Requested] = []
        for grant in listed {
            guard let grantee = grant.child("Grantee"), let text = grant.value("Permission"), let permission = Permission(rawValue: text) else {
                throw S3Error("MalformedACLError", .badRequest, "each Grant needs a Grantee and a Permission of READ, WRITE, READ_ACP, WRITE_ACP or FULL_CONTROL")
            }
            let named: Named
            if let id = grantee.value("ID"), grantee.attributes["type"] ?? "CanonicalUser" == "CanonicalUser" {
                named = .id(id)
            } else if let email = grantee.value("EmailAddress") {
                named = .email(email)
            } else if let uri = grantee.value("URI") {
                named = .group(uri: uri)
            } else {
                throw S3Error("MalformedACLError", .badRequest, "a Grantee has an ID, an EmailAddress or a URI")
            }
            grants.append(Requested(grantee: named, permission: permission))
        }
        return (root.child("Owner")?.value("ID"), grants)
    }

    /// Grants of users and groups Sluice knows: an unknown ID is InvalidArgument and an
    /// unknown address UnresolvableGrantByEmailAddress, as S3 answers.
    static func resolve(_ requested: [Requested], users: UserDirectory) throws(S3Error) -> [Grant] {
        var grants: [Grant] = []
        for grant in requested {
            let grantee: Grantee
            switch grant.grantee {
            case .id(let id):
                guard let user = users.user(id: id) else { throw S3Error.invalidArgument("Invalid id: no user has the ID \(id)") }
                grantee = .user(user.id)
            case .email(let email):
                guard let user = users.user(email: email) else {
                    throw S3Error("UnresolvableGrantByEmailAddress", .badRequest, "The e-mail address you provided does not match any account on record.")
                }
                grantee = .user(user.id)
            case .group(let uri):
                guard let group = Grantee(groupURI: uri) else { throw S3Error.invalidArgument("Invalid group uri: \(uri)") }
                grantee = group
            }
            let resolved = Grant(grantee, grant.permission)
            if !grants.contains(resolved) { grants.append(resolved) }
        }
        return grants
    }

    /// The ACL a request's headers ask for, or nil when they name none: a canned ACL or
    /// `x-amz-grant-*` grants (which are then the whole ACL: the owner gets only what they
    /// grant it), not both.
    static func fromHeaders(_ header: (String) -> String?, owner: String, bucketOwner: String?,
                            users: UserDirectory) throws(S3Error) -> AccessPolicy? {
        var requested: [Requested] = []
        for (name, permission) in headers {
            if let value = header(name) { requested += try parseHeader(value, permission: permission) }
        }
        let canned = header("x-amz-acl")
        if let canned {
            guard requested.isEmpty else {
                throw S3Error("InvalidRequest", .badRequest, "Specifying both Canned ACLs and Header Grants is not allowed")
            }
            guard let acl = CannedACL(rawValue: canned.lowercased()) else {
                throw S3Error.invalidArgument("'\(canned)' is not a canned ACL (\(CannedACL.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return AccessPolicy(canned: acl, owner: owner, bucketOwner: bucketOwner)
        }
        guard !requested.isEmpty else { return nil }
        return AccessPolicy(owner: owner, grants: try resolve(requested, users: users))
    }

    /// The `AccessControlPolicy` answered by GetBucketAcl and GetObjectAcl, of a policy
    /// whose IDs are resolved.
    static func document(_ policy: AccessPolicy, users: UserDirectory) -> String {
        var xml = S3XMLWriter()
        xml.start("AccessControlPolicy", namespace: S3XMLWriter.namespace)
        xml.element("Owner") {
            $0.element("ID", policy.owner)
            $0.element("DisplayName", users.displayName(policy.owner))
        }
        xml.start("AccessControlList")
        // Group grants first, then users', each in the order given, as Ceph RGW lists them
        // (s3-tests compares lists in that order).
        let groupsFirst = policy.grants.filter { $0.grantee.groupURI != nil } + policy.grants.filter { $0.grantee.groupURI == nil }
        for grant in groupsFirst {
            xml.element("Grant") { xml in
                let type = if case .user = grant.grantee { "CanonicalUser" } else { "Group" }
                xml.start("Grantee", attributes: [("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"), ("xsi:type", type)])
                switch grant.grantee {
                case .user(let id):
                    xml.element("ID", id)
                    xml.element("DisplayName", users.displayName(id))
                default:
                    xml.element("URI", grant.grantee.groupURI ?? "")
                }
                xml.end()
                xml.element("Permission", grant.permission.rawValue)
            }
        }
        xml.end()
        xml.end()
        return xml.text
    }
}
