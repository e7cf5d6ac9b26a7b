import Foundation

/// S3's permissions, as a grant names them.
public enum Permission: String, Sendable, Codable, CaseIterable {
    case read = "READ"
    case write = "WRITE"
    case readACP = "READ_ACP"
    case writeACP = "WRITE_ACP"
    case fullControl = "FULL_CONTROL"
}

/// Who a grant is for: one user by canonical ID, or one of S3's predefined groups.
/// (S3's grants by e-mail address name a user; they are resolved to the ID on input.)
public enum Grantee: Sendable, Hashable {
    /// A canonical user ID; "" is the first administrator (see `AccessPolicy.owner`).
    case user(String)
    /// Anyone, signed or not.
    case allUsers
    /// Anyone with a valid key pair.
    case authenticatedUsers
    /// S3's log-delivery group: accepted and kept, grants nothing here.
    case logDelivery

    static let groupPrefix = "http://acs.amazonaws.com/groups/"
    public static let allUsersURI = groupPrefix + "global/AllUsers"
    public static let authenticatedUsersURI = groupPrefix + "global/AuthenticatedUsers"
    public static let logDeliveryURI = groupPrefix + "s3/LogDelivery"

    /// The group a URI names.
    public init?(groupURI: String) {
        switch groupURI {
        case Self.allUsersURI: self = .allUsers
        case Self.authenticatedUsersURI: self = .authenticatedUsers
        case Self.logDeliveryURI: self = .logDelivery
        default: return nil
        }
    }

    public var groupURI: String? {
        switch self {
        case .user: return nil
        case .allUsers: return Self.allUsersURI
        case .authenticatedUsers: return Self.authenticatedUsersURI
        case .logDelivery: return Self.logDeliveryURI
        }
    }
}

public struct Grant: Sendable, Hashable {
    public var grantee: Grantee
    public var permission: Permission

    public init(_ grantee: Grantee, _ permission: Permission) {
        self.grantee = grantee
        self.permission = permission
    }
}

/// S3's canned ACLs (`x-amz-acl`).
public enum CannedACL: String, Sendable, CaseIterable {
    case `private` = "private"
    case publicRead = "public-read"
    case publicReadWrite = "public-read-write"
    case authenticatedRead = "authenticated-read"
    case bucketOwnerRead = "bucket-owner-read"
    case bucketOwnerFullControl = "bucket-owner-full-control"
}

/// The owner of a bucket or object and its grants, as S3 keeps them.
///
/// What the server makes itself (the watch folder, jobs, `sluice bucket`) has no user
/// behind it: its owner is "", the first administrator, resolved when a request is
/// checked (`UserDirectory.resolved`). Streaming and basic distributions serve exactly
/// what `isPublicRead` says: a grant of READ (or FULL_CONTROL) to AllUsers.
public struct AccessPolicy: Sendable, Equatable {
    /// The owner's canonical ID; "" for the first administrator.
    public var owner: String
    public var grants: [Grant]

    public init(owner: String, grants: [Grant]) {
        self.owner = owner
        self.grants = grants
    }

    /// `private` or `public-read` for `owner`.
    public init(_ acl: ObjectACL, owner: String = "") {
        self.init(canned: acl == .publicRead ? .publicRead : .private, owner: owner)
    }

    /// A canned ACL for `owner`; `bucketOwner` is who the bucket-owner-* ACLs grant to.
    public init(canned: CannedACL, owner: String, bucketOwner: String? = nil) {
        var grants = [Grant(.user(owner), .fullControl)]
        switch canned {
        case .private: break
        case .publicRead: grants.append(Grant(.allUsers, .read))
        case .publicReadWrite: grants += [Grant(.allUsers, .read), Grant(.allUsers, .write)]
        case .authenticatedRead: grants.append(Grant(.authenticatedUsers, .read))
        case .bucketOwnerRead:
            if let bucketOwner, bucketOwner != owner { grants.append(Grant(.user(bucketOwner), .read)) }
        case .bucketOwnerFullControl:
            if let bucketOwner, bucketOwner != owner { grants.append(Grant(.user(bucketOwner), .fullControl)) }
        }
        self.init(owner: owner, grants: grants)
    }

    /// Readable without credentials: streamed over RTMP and served by basic distributions.
    public var isPublicRead: Bool {
        grants.contains { $0.grantee == .allUsers && ($0.permission == .read || $0.permission == .fullControl) }
    }

    /// The summary older code and the external backend keep.
    public var acl: ObjectACL { isPublicRead ? .publicRead : .private }

    /// Whether `user` (a canonical ID; nil for an unsigned request) holds `permission`.
    /// The owner may always read and change the ACL itself, as in S3; everything else
    /// comes from grants, so an owner who grants itself nothing cannot read its object.
    public func allows(_ permission: Permission, to user: String?) -> Bool {
        if let user, user == owner, permission == .readACP || permission == .writeACP { return true }
        return grants.contains { grant in
            guard grant.permission == permission || grant.permission == .fullControl else { return false }
            switch grant.grantee {
            case .allUsers: return true
            case .authenticatedUsers: return user != nil
            case .user(let id): return id == user
            case .logDelivery: return false
            }
        }
    }

    // MARK: Storage

    /// The grants as the store keeps them: JSON, one `[grantee, permission]` pair each.
    var grantsText: String {
        let pairs = grants.map { grant -> [String] in
            let who: String = switch grant.grantee {
            case .user(let id): "id:" + id
            default: grant.grantee.groupURI ?? ""
            }
            return [who, grant.permission.rawValue]
        }
        return String(decoding: (try? JSONSerialization.data(withJSONObject: pairs)) ?? Data("[]".utf8), as: UTF8.self)
    }

    /// Reads `grantsText`; a row without grants (written before owners existed) has the
    /// canned ACL its `acl` column names.
    static func stored(owner: String, grants text: String?, acl: String) -> AccessPolicy {
        guard let text, let pairs = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String]] else {
            return AccessPolicy(ObjectACL(rawValue: acl) ?? .private, owner: owner)
        }
        let grants = pairs.compactMap { pair -> Grant? in
            guard pair.count == 2, let permission = Permission(rawValue: pair[1]) else { return nil }
            if pair[0].hasPrefix("id:") { return Grant(.user(String(pair[0].dropFirst(3))), permission) }
            return Grantee(groupURI: pair[0]).map { Grant($0, permission) }
        }
        return AccessPolicy(owner: owner, grants: grants)
    }
}
