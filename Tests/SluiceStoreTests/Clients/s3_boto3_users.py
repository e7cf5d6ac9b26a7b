"""Users, owners and ACLs through boto3: three users, each with its own key pair.

Run by S3APITests with SLUICE_S3_ENDPOINT and SLUICE_S3_USERS ("KEY:SECRET,..." for the
administrator "user1", then "user2" (user2@example.com) and "user3"). Each check prints one
line; any failure raises, so the exit status says it all.
"""
import os
import urllib.error
import urllib.request

import requests

from s3_check_helpers import anonymous_client, check, client, error_code

ENDPOINT = os.environ["SLUICE_S3_ENDPOINT"]
KEYS = [pair.split(":", 1) for pair in os.environ["SLUICE_S3_USERS"].split(",")]

main, alt, team = (client(ENDPOINT, *pair) for pair in KEYS)
anonymous = anonymous_client(ENDPOINT)
MAIN = main.list_buckets()["Owner"]
ALT = alt.list_buckets()["Owner"]
check("each user has its canonical ID and display name",
      MAIN["ID"] != ALT["ID"] and len(ALT["ID"]) == 64 and (MAIN["DisplayName"], ALT["DisplayName"]) == ("user1", "user2"), (MAIN, ALT))
DENIED = ("AccessDenied", 403)

# A private bucket is its owner's alone.
main.create_bucket(Bucket="owned")
check("another user's private bucket: list", error_code(lambda: alt.list_objects_v2(Bucket="owned")) == DENIED)
check("another user's private bucket: head", error_code(lambda: alt.head_bucket(Bucket="owned"))[1] == 403)
check("another user's private bucket: put", error_code(lambda: alt.put_object(Bucket="owned", Key="x", Body=b"x")) == DENIED)
check("another user's private bucket: delete", error_code(lambda: alt.delete_bucket(Bucket="owned")) == DENIED)
check("another user's private bucket: acl", error_code(lambda: alt.get_bucket_acl(Bucket="owned")) == DENIED)
check("a taken name", error_code(lambda: alt.create_bucket(Bucket="owned")) == ("BucketAlreadyExists", 409))
check("one's own name again", main.create_bucket(Bucket="owned")["ResponseMetadata"]["HTTPStatusCode"] == 200)
check("one's own name with another acl", error_code(lambda: main.create_bucket(Bucket="owned", ACL="public-read"))
      == ("BucketAlreadyExists", 409))
check("x-amz-expected-bucket-owner", error_code(lambda: main.list_objects_v2(Bucket="owned", ExpectedBucketOwner=ALT["ID"])) == DENIED
      and main.list_objects_v2(Bucket="owned", ExpectedBucketOwner=MAIN["ID"])["KeyCount"] == 0)
check("an unsigned ListBuckets lists nothing", anonymous.list_buckets()["Buckets"] == [])
alt.create_bucket(Bucket="alts")
check("list buckets shows one's own", [b["Name"] for b in alt.list_buckets()["Buckets"]] == ["alts"])
check("a third user sees none", team.list_buckets()["Buckets"] == [])
acl = main.get_bucket_acl(Bucket="owned")
check("bucket acl: owner FULL_CONTROL", acl["Owner"] == MAIN and acl["Grants"] == [
    {"Grantee": {"ID": MAIN["ID"], "DisplayName": "user1", "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}], acl)

# Objects: private to their owner until granted.
main.put_object(Bucket="owned", Key="private.txt", Body=b"private")
check("another user's private object", error_code(lambda: alt.get_object(Bucket="owned", Key="private.txt")) == DENIED)
check("a missing key, without READ on the bucket", error_code(lambda: alt.get_object(Bucket="owned", Key="none")) == DENIED)
check("a missing key, with READ", error_code(lambda: main.get_object(Bucket="owned", Key="none")) == ("NoSuchKey", 404))
main.put_object_acl(Bucket="owned", Key="private.txt", GrantRead=f'id="{ALT["ID"]}"')
check("x-amz-grant-read by id", alt.get_object(Bucket="owned", Key="private.txt")["Body"].read() == b"private")
grants = main.get_object_acl(Bucket="owned", Key="private.txt")["Grants"]
check("a grant by header is the whole acl", grants == [
    {"Grantee": {"ID": ALT["ID"], "DisplayName": "user2", "Type": "CanonicalUser"}, "Permission": "READ"}], grants)
check("the owner keeps READ_ACP and WRITE_ACP", main.get_object_acl(Bucket="owned", Key="private.txt")["Owner"] == MAIN)
check("...but not READ, granted to nobody else",
      error_code(lambda: main.get_object(Bucket="owned", Key="private.txt")) == DENIED)
check("the grantee cannot change the acl",
      error_code(lambda: alt.put_object_acl(Bucket="owned", Key="private.txt", ACL="public-read")) == DENIED)
main.put_object(Bucket="owned", Key="auth.txt", Body=b"auth", ACL="authenticated-read")
check("authenticated-read: another user", alt.get_object(Bucket="owned", Key="auth.txt")["Body"].read() == b"auth")
check("authenticated-read: anonymous", error_code(lambda: anonymous.get_object(Bucket="owned", Key="auth.txt")) == DENIED)

# A bucket grant of WRITE lets another user put; the object is that user's.
main.put_bucket_acl(Bucket="owned", GrantFullControl=f'id="{MAIN["ID"]}"', GrantWrite=f'emailAddress="user2@example.com"')
alt.put_object(Bucket="owned", Key="from-alt.txt", Body=b"alt")
check("the writer owns what it wrote, and the bucket owner cannot read it",
      error_code(lambda: main.get_object(Bucket="owned", Key="from-alt.txt")) == DENIED)
listed = main.list_objects(Bucket="owned")["Contents"]
owners = {o["Key"]: o["Owner"]["DisplayName"] for o in listed}
check("ListObjects names each object's owner", owners == {"auth.txt": "user1", "from-alt.txt": "user2", "private.txt": "user1"}, owners)
v2 = main.list_objects_v2(Bucket="owned", FetchOwner=True)["Contents"]
check("ListObjectsV2 fetch-owner", {o["Key"]: o["Owner"]["ID"] for o in v2}["from-alt.txt"] == ALT["ID"], v2)
alt.put_object(Bucket="owned", Key="for-owner.txt", Body=b"shared", ACL="bucket-owner-full-control")
check("bucket-owner-full-control", main.get_object(Bucket="owned", Key="for-owner.txt")["Body"].read() == b"shared")
check("WRITE is not READ", error_code(lambda: alt.list_objects(Bucket="owned")) == DENIED)
check("the bucket owner deletes anyone's object", main.delete_object(Bucket="owned", Key="from-alt.txt")["ResponseMetadata"]["HTTPStatusCode"] == 204)

# An AccessControlPolicy body, by e-mail address and by group.
policy = {"Owner": MAIN, "Grants": [
    {"Grantee": {"ID": MAIN["ID"], "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"},
    {"Grantee": {"EmailAddress": "user2@example.com", "Type": "AmazonCustomerByEmail"}, "Permission": "READ"},
    {"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers", "Type": "Group"}, "Permission": "READ_ACP"}]}
main.put_bucket_acl(Bucket="owned", AccessControlPolicy=policy)
check("a READ grant by e-mail lists", "Contents" in alt.list_objects_v2(Bucket="owned"))
check("READ_ACP to AllUsers", len(anonymous.get_bucket_acl(Bucket="owned")["Grants"]) == 3)
check("...and nothing more", error_code(lambda: alt.put_object(Bucket="owned", Key="y", Body=b"y")) == DENIED)
check("an unknown id", error_code(lambda: main.put_bucket_acl(Bucket="owned", GrantRead='id="' + "0" * 64 + '"')) == ("InvalidArgument", 400))
check("an unknown address", error_code(lambda: main.put_bucket_acl(Bucket="owned", GrantRead='emailAddress="nobody@example.com"'))
      == ("UnresolvableGrantByEmailAddress", 400))
check("canned and grant headers together", error_code(lambda: main.put_object(Bucket="owned", Key="z", Body=b"z", ACL="private",
                                                                               GrantRead=f'id="{ALT["ID"]}"')) == ("InvalidRequest", 400))
check("an ACL cannot give a bucket away", error_code(lambda: main.put_bucket_acl(Bucket="owned", AccessControlPolicy={
    "Owner": ALT, "Grants": []})) == DENIED)

# public-read-write: anyone lists and writes; what an unsigned client writes is the bucket owner's.
main.create_bucket(Bucket="dropbox", ACL="public-read-write")
anonymous.put_object(Bucket="dropbox", Key="anon.txt", Body=b"anon")
check("anonymous put into public-read-write", main.get_object(Bucket="dropbox", Key="anon.txt")["Body"].read() == b"anon")
check("anonymous list of public-read-write", [o["Key"] for o in anonymous.list_objects(Bucket="dropbox")["Contents"]] == ["anon.txt"])
form = requests.post(f"{ENDPOINT}/dropbox", data={"key": "form/${filename}"}, files={"file": ("page.txt", b"from a page")})
check("an anonymous form upload into public-read-write", form.status_code == 204, form.text)
check("...stored", main.get_object(Bucket="dropbox", Key="form/page.txt")["Body"].read() == b"from a page")
denied_form = requests.post(f"{ENDPOINT}/owned", data={"key": "x"}, files={"file": ("x", b"x")})
check("an anonymous form upload into a private bucket", denied_form.status_code == 403, denied_form.text)

# A public-read object by grant header is served over plain HTTP.
main.put_object(Bucket="owned", Key="public.txt", Body=b"public",
                GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"', GrantFullControl=f'id="{MAIN["ID"]}"')
with urllib.request.urlopen(f"{ENDPOINT}/owned/public.txt") as response:
    check("a READ grant to AllUsers is public", response.read() == b"public")
try:
    urllib.request.urlopen(f"{ENDPOINT}/owned/auth.txt")
    raise AssertionError("authenticated-read served anonymously")
except urllib.error.HTTPError as error:
    check("authenticated-read is not public", error.code == 403)
first = main.list_buckets(MaxBuckets=1)
second = main.list_buckets(MaxBuckets=1, ContinuationToken=first["ContinuationToken"])
check("ListBuckets in pages", ([b["Name"] for b in first["Buckets"]], [b["Name"] for b in second["Buckets"]], "ContinuationToken" in second)
      == (["dropbox"], ["owned"], False), (first, second))
check("ListBuckets by prefix", [b["Name"] for b in main.list_buckets(Prefix="own")["Buckets"]] == ["owned"])
print("ALL OK")
