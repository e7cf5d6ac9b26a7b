import Foundation
@testable import SluiceStore
import XCTest

/// Owners, grants and users without a server: what each canned ACL grants, who a grant
/// reaches, how requests name grantees, and the user table's rules.
final class AccessPolicyTests: XCTestCase {
    let owner = String(repeating: "a", count: 64), other = String(repeating: "b", count: 64)

    func testCannedACLsGrantWhatS3Grants() {
        let privateACL = AccessPolicy(canned: .private, owner: owner)
        XCTAssertTrue(privateACL.allows(.read, to: owner))
        XCTAssertFalse(privateACL.allows(.read, to: other))
        XCTAssertFalse(privateACL.allows(.read, to: nil))
        XCTAssertFalse(privateACL.isPublicRead)

        let publicRead = AccessPolicy(canned: .publicRead, owner: owner)
        XCTAssertTrue(publicRead.allows(.read, to: nil) && publicRead.isPublicRead)
        XCTAssertFalse(publicRead.allows(.write, to: nil))
        let readWrite = AccessPolicy(canned: .publicReadWrite, owner: owner)
        XCTAssertTrue(readWrite.allows(.write, to: nil) && readWrite.allows(.write, to: other))

        let authenticated = AccessPolicy(canned: .authenticatedRead, owner: owner)
        XCTAssertTrue(authenticated.allows(.read, to: other))
        XCTAssertFalse(authenticated.allows(.read, to: nil))
        XCTAssertFalse(authenticated.isPublicRead, "streaming serves only what anyone may read")

        XCTAssertTrue(AccessPolicy(canned: .bucketOwnerRead, owner: other, bucketOwner: owner).allows(.read, to: owner))
        XCTAssertFalse(AccessPolicy(canned: .bucketOwnerRead, owner: other, bucketOwner: owner).allows(.write, to: owner))
        XCTAssertTrue(AccessPolicy(canned: .bucketOwnerFullControl, owner: other, bucketOwner: owner).allows(.writeACP, to: owner))
        XCTAssertEqual(AccessPolicy(canned: .bucketOwnerFullControl, owner: owner, bucketOwner: owner).grants.count, 1)
    }

    func testTheOwnerAlwaysKeepsTheACLButNotTheBody() {
        let granted = AccessPolicy(owner: owner, grants: [Grant(.user(other), .read)])
        XCTAssertTrue(granted.allows(.readACP, to: owner) && granted.allows(.writeACP, to: owner))
        XCTAssertFalse(granted.allows(.read, to: owner))
        XCTAssertTrue(granted.allows(.read, to: other))
        XCTAssertFalse(granted.allows(.readACP, to: other))
        XCTAssertTrue(AccessPolicy(owner: owner, grants: [Grant(.allUsers, .fullControl)]).isPublicRead)
        XCTAssertFalse(AccessPolicy(owner: owner, grants: [Grant(.logDelivery, .fullControl)]).allows(.read, to: other))
    }

    func testGrantsSurviveTheStoreAndOldRowsKeepTheirCannedACL() {
        let policy = AccessPolicy(owner: owner, grants: [Grant(.user(other), .write), Grant(.authenticatedUsers, .readACP),
                                                          Grant(.allUsers, .read), Grant(.logDelivery, .write)])
        XCTAssertEqual(AccessPolicy.stored(owner: owner, grants: policy.grantsText, acl: "private"), policy)
        XCTAssertEqual(AccessPolicy.stored(owner: "", grants: nil, acl: "public-read"), AccessPolicy(.publicRead))
        XCTAssertEqual(AccessPolicy.stored(owner: "", grants: "not json", acl: "private"), AccessPolicy(.private))
    }

    func testTheFirstAdministratorOwnsWhatTheServerMade() {
        let admin = StoreUser(id: owner, name: "admin", isAdministrator: true, keys: [AccessKeyPair(accessKey: "ADMINKEY", secretKey: "s")])
        let users = UserDirectory(stored: [admin], configured: [
            StoreUser(id: StoreUser.stableID(name: "admin"), name: "admin", keys: [AccessKeyPair(accessKey: "CONFIGURED", secretKey: "t")]),
            StoreUser(id: other, name: "edge", email: "Edge@Example.com"),
        ])
        XCTAssertEqual(users.resolved(AccessPolicy(.publicRead)), AccessPolicy(canned: .publicRead, owner: owner))
        XCTAssertEqual(users.user(forAccessKey: "CONFIGURED")?.id, owner, "a configured user with a stored name adds keys to it")
        XCTAssertEqual(users.user(email: "edge@example.com")?.name, "edge")
        XCTAssertEqual(users.administratorKeys, ["ADMINKEY": "s", "CONFIGURED": "t"])
        XCTAssertEqual(users.displayName(String(repeating: "c", count: 64)), String(repeating: "c", count: 64))
    }

    func testGrantHeadersAsClientsWriteThem() throws {
        let grants = try S3Grants.parseHeader(#"id="\#(owner)", uri="http://acs.amazonaws.com/groups/global/AllUsers",emailAddress=a@b.c"#,
                                              permission: .read)
        XCTAssertEqual(grants.map(\.grantee), [.id(owner), .group(uri: Grantee.allUsersURI), .email("a@b.c")])
        XCTAssertThrowsError(try S3Grants.parseHeader("nobody", permission: .read))
        XCTAssertThrowsError(try S3Grants.parseHeader(#"name="x""#, permission: .read))
        XCTAssertThrowsError(try S3Grants.parseHeader(#"id="""#, permission: .read))
        let many = Array(repeating: #"id="x""#, count: S3Grants.maximumGrants + 1).joined(separator: ",")
        XCTAssertThrowsError(try S3Grants.parseHeader(many, permission: .read))
        let users = UserDirectory(stored: [StoreUser(id: owner, name: "main")])
        let header = { (name: String) -> String? in ["x-amz-acl": "public-read", "x-amz-grant-read": "id=\(self.owner)"][name] }
        XCTAssertThrowsError(try S3Grants.fromHeaders(header, owner: owner, bucketOwner: nil, users: users)) {
            XCTAssertEqual(($0 as? S3Error)?.code, "InvalidRequest")
        }
        XCTAssertThrowsError(try S3Grants.fromHeaders({ $0 == "x-amz-acl" ? "world-writable" : nil }, owner: owner, bucketOwner: nil, users: users))
        XCTAssertNil(try S3Grants.fromHeaders({ _ in nil }, owner: owner, bucketOwner: nil, users: users))
    }

    func testAccessControlPolicyDocuments() throws {
        let document = """
            <AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>\(owner)</ID></Owner><AccessControlList>
            <Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>\(other)</ID></Grantee><Permission>WRITE</Permission></Grant>
            <Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="AmazonCustomerByEmail"><EmailAddress>a@b.c</EmailAddress></Grantee><Permission>READ_ACP</Permission></Grant>
            <Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>\(Grantee.authenticatedUsersURI)</URI></Grantee><Permission>READ</Permission></Grant>
            </AccessControlList></AccessControlPolicy>
            """
        let (named, grants) = try S3Grants.parsePolicy(Data(document.utf8))
        XCTAssertEqual(named, owner)
        XCTAssertEqual(grants, [S3Grants.Requested(grantee: .id(other), permission: .write),
                                S3Grants.Requested(grantee: .email("a@b.c"), permission: .readACP),
                                S3Grants.Requested(grantee: .group(uri: Grantee.authenticatedUsersURI), permission: .read)])
        let users = UserDirectory(stored: [StoreUser(id: owner, name: "main"), StoreUser(id: other, name: "alt", email: "a@b.c")])
        XCTAssertEqual(try S3Grants.resolve(grants, users: users),
                       [Grant(.user(other), .write), Grant(.user(other), .readACP), Grant(.authenticatedUsers, .read)])
        let bad = document.replacingOccurrences(of: "<Permission>WRITE</Permission>", with: "<Permission>EVERYTHING</Permission>")
        XCTAssertThrowsError(try S3Grants.parsePolicy(Data(bad.utf8))) { XCTAssertEqual(($0 as? S3Error)?.code, "MalformedACLError") }
        XCTAssertThrowsError(try S3Grants.resolve([S3Grants.Requested(grantee: .group(uri: "http://example.com/"), permission: .read)], users: users))

        // What GetBucketAcl answers reads back as the same grants.
        let answered = S3Grants.document(AccessPolicy(owner: owner, grants: try S3Grants.resolve(grants, users: users)), users: users)
        XCTAssertTrue(answered.contains("<DisplayName>alt</DisplayName>"), answered)
        let again = try S3Grants.parsePolicy(Data(answered.utf8))
        XCTAssertEqual(try S3Grants.resolve(again.grants, users: users).count, 3)
    }

    func testUserTableRules() throws {
        let folder = NSTemporaryDirectory() + "sluice-users-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try UserStore(dataFolder: folder)
        let mode = try FileManager.default.attributesOfItem(atPath: store.path)[.posixPermissions] as? NSNumber
        XCTAssertEqual(mode?.intValue, 0o600, "the table holds secrets")
        let admin = try XCTUnwrap(try store.bootstrap(key: AccessKeyPair(accessKey: "FIRSTKEY", secretKey: "first/secret")))
        XCTAssertTrue(admin.isAdministrator)
        XCTAssertNil(try store.bootstrap(key: .generate()), "only the first start makes one")
        let edge = try store.addUser(name: "edge", email: "edge@example.com")
        XCTAssertTrue(StoreUser.isValidID(edge.id) && edge.keys[0].accessKey.hasPrefix("SLUICE"))
        XCTAssertThrowsError(try store.addUser(name: "edge"))
        XCTAssertThrowsError(try store.addUser(name: "other", email: "edge@example.com"))
        XCTAssertThrowsError(try store.addUser(name: "bad name"))
        XCTAssertThrowsError(try store.addUser(name: "taken", key: AccessKeyPair(accessKey: "FIRSTKEY", secretKey: "x/secret")))
        XCTAssertThrowsError(try store.removeKey(user: "edge", accessKey: edge.keys[0].accessKey), "a user keeps one key")
        let second = try store.addKey(user: "edge")
        try store.removeKey(user: "edge", accessKey: edge.keys[0].accessKey)
        XCTAssertEqual(try store.user(named: "edge").keys, [second])
        XCTAssertThrowsError(try store.removeUser(named: "admin"), "the only administrator stays")
        try store.removeUser(named: "edge")
        XCTAssertEqual(try store.users().map(\.name), ["admin"])
    }
}
