"""Drives Sluice's S3 API with boto3/botocore, the library the AWS CLI is built on.

Run by S3APITests with SLUICE_S3_ENDPOINT, SLUICE_S3_ACCESS_KEY and SLUICE_S3_SECRET_KEY.
Each check prints one line; any failure raises, so the exit status says it all.
"""
import base64
import hashlib
import http.client
import io
import os
import socket
import sys
import time
import urllib.error
import urllib.request
import zlib

import boto3
import botocore
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

import s3_check_helpers as helpers
from s3_check_helpers import check, error_code

ENDPOINT = os.environ["SLUICE_S3_ENDPOINT"]
ACCESS = os.environ["SLUICE_S3_ACCESS_KEY"]
SECRET = os.environ["SLUICE_S3_SECRET_KEY"]
PORT = int(ENDPOINT.rsplit(":", 1)[1])


def client(secret=SECRET, access=ACCESS, **config):
    return helpers.client(ENDPOINT, access, secret, **config)


s3 = client()
anonymous = helpers.anonymous_client(ENDPOINT)

# Buckets
s3.create_bucket(Bucket="checks")
names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
check("create and list buckets", "checks" in names, names)
check("missing bucket", error_code(lambda: s3.head_bucket(Bucket="nothing-here"))[1] == 404)

# Objects, metadata, ranges, conditions
body = bytes(range(256)) * 4096  # 1 MiB
put = s3.put_object(Bucket="checks", Key="dir/one.bin", Body=body, Metadata={"origin": "boto3"}, ContentType="application/x-test")
check("put etag is the md5", put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest(), put["ETag"])
got = s3.get_object(Bucket="checks", Key="dir/one.bin")
check("get body", got["Body"].read() == body)
check("get metadata", got["Metadata"] == {"origin": "boto3"} and got["ContentType"] == "application/x-test", got["Metadata"])
ranged = s3.get_object(Bucket="checks", Key="dir/one.bin", Range="bytes=1000-1999")
check("range", ranged["Body"].read() == body[1000:2000] and ranged["ContentRange"] == "bytes 1000-1999/1048576",
      ranged.get("ContentRange"))
suffix = s3.get_object(Bucket="checks", Key="dir/one.bin", Range="bytes=-10")["Body"].read()
check("suffix range", suffix == body[-10:])
check("range past the end", error_code(lambda: s3.get_object(Bucket="checks", Key="dir/one.bin", Range="bytes=5000000-")) == ("InvalidRange", 416))
check("if-none-match", error_code(lambda: s3.get_object(Bucket="checks", Key="dir/one.bin", IfNoneMatch=put["ETag"]))[1] == 304)
check("if-modified-since", error_code(lambda: s3.get_object(Bucket="checks", Key="dir/one.bin",
                                                              IfModifiedSince=time.time() + 3600))[1] == 304)
fresh = s3.get_object(Bucket="checks", Key="dir/one.bin", IfModifiedSince=time.time() - 3600)
check("if-modified-since, modified", fresh["ContentLength"] == len(body))
check("if-match mismatch", error_code(lambda: s3.get_object(Bucket="checks", Key="dir/one.bin", IfMatch='"0"')) == ("PreconditionFailed", 412))
head = s3.head_object(Bucket="checks", Key="dir/one.bin")
check("head", head["ContentLength"] == len(body) and head["ETag"] == put["ETag"])
check("no such key", error_code(lambda: s3.get_object(Bucket="checks", Key="missing")) == ("NoSuchKey", 404))
check("no such bucket", error_code(lambda: s3.get_object(Bucket="nothing-here", Key="x")) == ("NoSuchBucket", 404))

# Integrity: Content-MD5 and the additional checksums
wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
check("content-md5 mismatch", error_code(lambda: s3.put_object(Bucket="checks", Key="bad", Body=b"data", ContentMD5=wrong_md5)) == ("BadDigest", 400))
right_md5 = base64.b64encode(hashlib.md5(b"data").digest()).decode()
s3.put_object(Bucket="checks", Key="good", Body=b"data", ContentMD5=right_md5)
crc = base64.b64encode(zlib.crc32(b"data").to_bytes(4, "big")).decode()
s3.put_object(Bucket="checks", Key="crc", Body=b"data", ChecksumCRC32=crc)
check("crc32 mismatch", error_code(lambda: s3.put_object(Bucket="checks", Key="bad", Body=b"data", ChecksumCRC32="AAAAAA==")) == ("BadDigest", 400))
check("sha256 checksum", s3.put_object(Bucket="checks", Key="sha", Body=b"data", ChecksumAlgorithm="SHA256")["ETag"])
check("nothing kept from bad puts", error_code(lambda: s3.head_object(Bucket="checks", Key="bad"))[1] == 404)

# Signatures and ACLs
check("wrong secret", error_code(lambda: client(secret="not-the-secret").list_buckets()) == ("SignatureDoesNotMatch", 403))
check("unknown access key", error_code(lambda: client(access="AKIDNOBODY").list_buckets()) == ("InvalidAccessKeyId", 403))
check("anonymous private get", error_code(lambda: anonymous.get_object(Bucket="checks", Key="dir/one.bin")) == ("AccessDenied", 403))
check("anonymous put", error_code(lambda: anonymous.put_object(Bucket="checks", Key="x", Body=b"x")) == ("AccessDenied", 403))
check("anonymous list", error_code(lambda: anonymous.list_objects_v2(Bucket="checks")) == ("AccessDenied", 403))
check("anonymous get from a missing bucket", error_code(lambda: anonymous.get_object(Bucket="nothing-here", Key="x")) == ("NoSuchBucket", 404))
s3.put_object_acl(Bucket="checks", Key="dir/one.bin", ACL="public-read")
grants = s3.get_object_acl(Bucket="checks", Key="dir/one.bin")["Grants"]
check("acl lists AllUsers READ", any(g["Grantee"].get("URI", "").endswith("/AllUsers") and g["Permission"] == "READ" for g in grants), grants)
check("anonymous public get", anonymous.get_object(Bucket="checks", Key="dir/one.bin")["Body"].read() == body)
with urllib.request.urlopen(f"{ENDPOINT}/checks/dir/one.bin") as response:
    check("plain HTTP public get", response.read() == body)
s3.put_object_acl(Bucket="checks", Key="dir/one.bin", ACL="private")
check("private again", error_code(lambda: anonymous.head_object(Bucket="checks", Key="dir/one.bin"))[1] == 403)
s3.put_object(Bucket="checks", Key="public.txt", Body=b"hi", ACL="public-read")
check("x-amz-acl on put", anonymous.get_object(Bucket="checks", Key="public.txt")["Body"].read() == b"hi")

# Stored headers: returned as sent, each overridden by its response-* parameter on GET.
import datetime
expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
s3.put_object(Bucket="checks", Key="stored.txt", Body=b"stored", CacheControl="max-age=600", ContentDisposition='attachment; filename="s.txt"',
              ContentEncoding="identity", ContentLanguage="fr-CA", Expires=expires, ContentType="text/plain",
              Metadata={"title": "=?UTF-8?B?aMOpbGxv?=", "plain": "ascii"})
stored = s3.head_object(Bucket="checks", Key="stored.txt")
check("stored headers", (stored["CacheControl"], stored["ContentDisposition"], stored["ContentEncoding"], stored["ContentLanguage"],
                         stored["Expires"]) == ("max-age=600", 'attachment; filename="s.txt"', "identity", "fr-CA", expires), stored)
check("non-ASCII metadata, RFC 2047", stored["Metadata"] == {"title": "=?UTF-8?B?aMOpbGxv?=", "plain": "ascii"}, stored["Metadata"])
overridden = s3.get_object(Bucket="checks", Key="stored.txt", ResponseCacheControl="no-cache", ResponseContentLanguage="en",
                           ResponseContentType="application/x-other", ResponseContentDisposition="inline", ResponseContentEncoding="gzip",
                           ResponseExpires=datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc))
check("response-* overrides", (overridden["CacheControl"], overridden["ContentLanguage"], overridden["ContentType"],
                               overridden["ContentDisposition"], overridden["ContentEncoding"], overridden["Expires"].year)
      == ("no-cache", "en", "application/x-other", "inline", "gzip", 2031), overridden)
kept = s3.copy_object(Bucket="checks", Key="stored-copy.txt", CopySource={"Bucket": "checks", "Key": "stored.txt"})
copy = s3.head_object(Bucket="checks", Key="stored-copy.txt")
check("copy keeps stored headers", (copy["CacheControl"], copy["ContentLanguage"], copy["ContentType"], copy["Metadata"])
      == ("max-age=600", "fr-CA", "text/plain", stored["Metadata"]), copy)
s3.copy_object(Bucket="checks", Key="stored-copy.txt", CopySource={"Bucket": "checks", "Key": "stored.txt"}, MetadataDirective="REPLACE",
               CacheControl="no-store", ContentType="text/x-new", Metadata={"new": "yes"})
replaced = s3.head_object(Bucket="checks", Key="stored-copy.txt")
check("copy with REPLACE", (replaced["CacheControl"], replaced["ContentType"], replaced["Metadata"], "ContentLanguage" in replaced)
      == ("no-store", "text/x-new", {"new": "yes"}, False), replaced)

# Conditional writes
check("if-none-match * over an object", error_code(lambda: s3.put_object(Bucket="checks", Key="stored.txt", Body=b"x", IfNoneMatch="*"))
      == ("PreconditionFailed", 412))
fresh = s3.put_object(Bucket="checks", Key="fresh.txt", Body=b"new", IfNoneMatch="*")["ETag"]
check("if-none-match * on a new key", fresh)
check("delete if-match, wrong etag", error_code(lambda: s3.delete_object(Bucket="checks", Key="fresh.txt", IfMatch='"0123"'))
      == ("PreconditionFailed", 412))
check("delete if the size matches, wrong size", error_code(lambda: s3.delete_object(Bucket="checks", Key="fresh.txt", IfMatchSize=4))[1] == 412)
check("a failed conditional delete keeps the object", s3.head_object(Bucket="checks", Key="fresh.txt")["ETag"] == fresh)
s3.delete_object(Bucket="checks", Key="fresh.txt", IfMatch=fresh, IfMatchSize=3)
check("delete if-match, right etag and size", error_code(lambda: s3.head_object(Bucket="checks", Key="fresh.txt"))[1] == 404)
check("a conditional delete of nothing", s3.delete_object(Bucket="checks", Key="fresh.txt", IfMatch='"0123"')["ResponseMetadata"]["HTTPStatusCode"] == 204)
s3.put_object(Bucket="checks", Key="fresh.txt", Body=b"new")
failed = s3.delete_objects(Bucket="checks", Delete={"Objects": [{"Key": "fresh.txt", "ETag": '"0123"'}]})
check("DeleteObjects with a wrong ETag", [(e["Key"], e["Code"]) for e in failed["Errors"]] == [("fresh.txt", "PreconditionFailed")], failed)
deleted = s3.delete_objects(Bucket="checks", Delete={"Objects": [{"Key": "fresh.txt", "ETag": fresh, "Size": 3}]})
check("DeleteObjects with the right ETag and size", [d["Key"] for d in deleted["Deleted"]] == ["fresh.txt"], deleted)
s3.put_object(Bucket="checks", Key="fresh.txt", Body=b"new")
check("if-match, wrong etag", error_code(lambda: s3.put_object(Bucket="checks", Key="stored.txt", Body=b"x", IfMatch='"0123"'))
      == ("PreconditionFailed", 412))
check("if-match, missing key", error_code(lambda: s3.put_object(Bucket="checks", Key="absent.txt", Body=b"x", IfMatch='"0123"'))[1] == 404)
check("if-match, right etag", s3.put_object(Bucket="checks", Key="stored.txt", Body=b"replaced", IfMatch=stored["ETag"])["ETag"])
check("conditional write kept the body", s3.get_object(Bucket="checks", Key="stored.txt")["Body"].read() == b"replaced")
current = s3.head_object(Bucket="checks", Key="stored.txt")["ETag"]
check("if-match * over an object", s3.put_object(Bucket="checks", Key="stored.txt", Body=b"again", IfMatch="*")["ETag"])
check("if-match * without one", error_code(lambda: s3.put_object(Bucket="checks", Key="absent.txt", Body=b"x", IfMatch="*"))[1] == 404)
again = s3.head_object(Bucket="checks", Key="stored.txt")["ETag"]
check("if-none-match with the current etag", error_code(lambda: s3.put_object(Bucket="checks", Key="stored.txt", Body=b"x", IfNoneMatch=again))
      == ("PreconditionFailed", 412))
check("if-none-match with an old etag", s3.put_object(Bucket="checks", Key="stored.txt", Body=b"new", IfNoneMatch=current)["ETag"])
s3.delete_objects(Bucket="checks", Delete={"Objects": [{"Key": k} for k in ("stored.txt", "stored-copy.txt", "fresh.txt")]})

# Copy and listing
copied = s3.copy_object(Bucket="checks", Key="dir/two.bin", CopySource={"Bucket": "checks", "Key": "dir/one.bin"})
check("copy keeps the etag", copied["CopyObjectResult"]["ETag"] == put["ETag"])
check("copy keeps metadata", s3.head_object(Bucket="checks", Key="dir/two.bin")["Metadata"] == {"origin": "boto3"})
for index in range(5):
    s3.put_object(Bucket="checks", Key=f"list/item {index}+é.txt", Body=b"x")
keys, token, pages = [], None, 0
while True:
    arguments = {"Bucket": "checks", "Prefix": "list/", "MaxKeys": 2}
    if token:
        arguments["ContinuationToken"] = token
    page = s3.list_objects_v2(**arguments)
    pages += 1
    keys += [item["Key"] for item in page.get("Contents", [])]
    if not page["IsTruncated"]:
        break
    token = page["NextContinuationToken"]
check("paged listing", keys == [f"list/item {i}+é.txt" for i in range(5)] and pages == 3, (keys, pages))
top = s3.list_objects_v2(Bucket="checks", Delimiter="/")
check("delimiter", [p["Prefix"] for p in top["CommonPrefixes"]] == ["dir/", "list/"], top.get("CommonPrefixes"))
v1 = s3.list_objects(Bucket="checks", Prefix="dir/")
check("list objects v1", [item["Key"] for item in v1["Contents"]] == ["dir/one.bin", "dir/two.bin"])
# Versions: never on, so every object is its one version, "null" (what tools that empty a
# bucket before deleting it list and name).
check("versioning never on", "Status" not in s3.get_bucket_versioning(Bucket="checks"))
versions, marker, pages = [], {}, 0
while True:
    page = s3.list_object_versions(Bucket="checks", Prefix="list/", MaxKeys=2, **marker)
    pages += 1
    versions += page.get("Versions", [])
    if not page["IsTruncated"]:
        break
    marker = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
check("list object versions", [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions]
      == [(f"list/item {i}+é.txt", "null", True) for i in range(5)] and pages == 3, (versions, pages))
encoded = s3.list_object_versions(Bucket="checks", Delimiter="/", EncodingType="url")
check("versions with a delimiter", [p["Prefix"] for p in encoded["CommonPrefixes"]] == ["dir/", "list/"], encoded)
check("get version null", s3.get_object(Bucket="checks", Key="list/item 0+é.txt", VersionId="null")["Body"].read() == b"x")
check("get another version", error_code(lambda: s3.get_object(Bucket="checks", Key="list/item 0+é.txt", VersionId="3HL4kqtJlcpXroDTDmJ"))
      == ("InvalidArgument", 400))
deleted = s3.delete_objects(Bucket="checks", Delete={"Objects": [{"Key": "list/item 0+é.txt", "VersionId": "null"},
                                                                 {"Key": "list/item 1+é.txt", "VersionId": "3HL4kqtJlcpXroDTDmJ"}]})
check("delete version null", [(d["Key"], d.get("VersionId")) for d in deleted.get("Deleted", [])] == [("list/item 0+é.txt", "null")]
      and [e["Code"] for e in deleted.get("Errors", [])] == ["NoSuchVersion"], deleted)
s3.delete_object(Bucket="checks", Key="list/item 1+é.txt", VersionId="null")
deleted = s3.delete_objects(Bucket="checks", Delete={"Objects": [{"Key": f"list/item {i}+é.txt"} for i in range(2, 5)]})
check("delete objects", len(deleted["Deleted"]) == 3)
check("versions gone", "Versions" not in s3.list_object_versions(Bucket="checks", Prefix="list/"))
for key in ("paged/d1/a", "paged/d1/b", "paged/d2/a", "paged/top"):
    s3.put_object(Bucket="checks", Key=key, Body=b"p")
seen, marker = [], ""
for _ in range(6):
    page = s3.list_objects(Bucket="checks", Prefix="paged/", Delimiter="/", MaxKeys=1, Marker=marker)
    seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])] + [o["Key"] for o in page.get("Contents", [])]
    if not page["IsTruncated"]:
        break
    marker = page["NextMarker"]
check("v1 pages by NextMarker past common prefixes", seen == ["paged/d1/", "paged/d2/", "paged/top"], seen)
v1 = s3.list_objects(Bucket="checks", Prefix="paged/top")["Contents"][0]
v2 = s3.list_objects_v2(Bucket="checks", Prefix="paged/top")["Contents"][0]
v2owner = s3.list_objects_v2(Bucket="checks", Prefix="paged/top", FetchOwner=True)["Contents"][0]
check("owners in listings", "Owner" in v1 and "Owner" not in v2 and "Owner" in v2owner, (v1, v2, v2owner))
s3.delete_objects(Bucket="checks", Delete={"Objects": [{"Key": k} for k in ("paged/d1/a", "paged/d1/b", "paged/d2/a", "paged/top")]})
check("bucket names as S3 allows new ones", all(error_code(lambda: s3.create_bucket(Bucket=name))[0] == "InvalidBucketName"
                                                for name in ("ends-", "dot.-dash", "192.168.5.4", "-starts")))
s3.put_object(Bucket="checks", Key="folder/", Body=b"")
check("folder marker keys", [o["Key"] for o in s3.list_objects_v2(Bucket="checks", Prefix="folder")["Contents"]] == ["folder/"])
s3.delete_object(Bucket="checks", Key="folder/")
check("a '..' component is refused", error_code(lambda: s3.put_object(Bucket="checks", Key="a/../b", Body=b"x")) == ("InvalidArgument", 400))
for key in (" ", "_ ", "tab\tkey "):
    s3.put_object(Bucket="checks", Key="spaces/" + key, Body=b"s")
spaced = s3.delete_objects(Bucket="checks", Delete={"Objects": [{"Key": "spaces/" + k} for k in (" ", "_ ", "tab\tkey ")]})
check("delete keys ending in spaces", sorted(d["Key"] for d in spaced["Deleted"]) == ["spaces/ ", "spaces/_ ", "spaces/tab\tkey "]
      and "Contents" not in s3.list_objects_v2(Bucket="checks", Prefix="spaces/"), spaced)
check("bucket not empty", error_code(lambda: s3.delete_bucket(Bucket="checks")) == ("BucketNotEmpty", 409))

# Multipart
part_one, part_two = os.urandom(5 * 1024 * 1024), os.urandom(1000)
upload = s3.create_multipart_upload(Bucket="checks", Key="multi.bin", ACL="public-read")["UploadId"]
etags = [s3.upload_part(Bucket="checks", Key="multi.bin", UploadId=upload, PartNumber=n, Body=b)["ETag"]
         for n, b in ((1, part_one), (2, part_two))]
listed = s3.list_parts(Bucket="checks", Key="multi.bin", UploadId=upload)["Parts"]
check("list parts", [p["PartNumber"] for p in listed] == [1, 2])
uploads = s3.list_multipart_uploads(Bucket="checks")["Uploads"]
check("an upload's initiator and owner", [(u["UploadId"], u["Initiator"]["DisplayName"], u["Owner"]["DisplayName"]) for u in uploads]
      == [(upload, "user1", "user1")], uploads)
chosen = {"Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags)]}
done = s3.complete_multipart_upload(Bucket="checks", Key="multi.bin", UploadId=upload, MultipartUpload=chosen)
expected = hashlib.md5(hashlib.md5(part_one).digest() + hashlib.md5(part_two).digest()).hexdigest() + "-2"
check("multipart etag", done["ETag"] == '"%s"' % expected, done["ETag"])
second = s3.get_object(Bucket="checks", Key="multi.bin", PartNumber=2)
check("get part 2 of a multipart object", (second["Body"].read(), second["PartsCount"], second["ContentRange"])
      == (part_two, 2, f"bytes {len(part_one)}-{len(part_one) + len(part_two) - 1}/{len(part_one) + len(part_two)}"), second)
check("head part 1", s3.head_object(Bucket="checks", Key="multi.bin", PartNumber=1)["ContentLength"] == len(part_one))
check("a part past the last", error_code(lambda: s3.get_object(Bucket="checks", Key="multi.bin", PartNumber=3)) == ("InvalidPart", 400))
check("part 1 of an object put whole", s3.get_object(Bucket="checks", Key="dir/one.bin", PartNumber=1)["Body"].read() == body)
again = s3.complete_multipart_upload(Bucket="checks", Key="multi.bin", UploadId=upload, MultipartUpload=chosen)
check("a repeated completion answers as the first", again["ETag"] == done["ETag"], again)
check("multipart body", anonymous.get_object(Bucket="checks", Key="multi.bin")["Body"].read() == part_one + part_two)
small = s3.create_multipart_upload(Bucket="checks", Key="small.bin")["UploadId"]
small_etags = [s3.upload_part(Bucket="checks", Key="small.bin", UploadId=small, PartNumber=n, Body=b"tiny")["ETag"] for n in (1, 2)]
check("part too small", error_code(lambda: s3.complete_multipart_upload(
    Bucket="checks", Key="small.bin", UploadId=small,
    MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), small_etags)]})) == ("EntityTooSmall", 400))
s3.abort_multipart_upload(Bucket="checks", Key="small.bin", UploadId=small)
check("aborted upload is gone", error_code(lambda: s3.list_parts(Bucket="checks", Key="small.bin", UploadId=small)) == ("NoSuchUpload", 404))
s3.create_bucket(Bucket="pending-upload")
pending = s3.create_multipart_upload(Bucket="pending-upload", Key="left.bin")["UploadId"]
s3.upload_part(Bucket="pending-upload", Key="left.bin", UploadId=pending, PartNumber=1, Body=b"part")
s3.delete_bucket(Bucket="pending-upload")
check("a bucket goes with its unfinished uploads", error_code(lambda: s3.head_bucket(Bucket="pending-upload"))[1] == 404)

# Presigned URLs: botocore's default for S3 is Signature Version 2 (what `aws s3 presign`
# prints), and Signature Version 4 when asked for.
v4 = client(signature_version="s3v4")
for label, signer in (("v2", s3), ("v4", v4)):
    with urllib.request.urlopen(signer.generate_presigned_url("get_object", Params={"Bucket": "checks", "Key": "dir/two.bin"})) as response:
        check(f"presigned get ({label})", response.read() == body)
s3 = v4
url = s3.generate_presigned_url("get_object", Params={"Bucket": "checks", "Key": "dir/two.bin"}, ExpiresIn=300)
with urllib.request.urlopen(url) as response:
    check("presigned get", response.read() == body)
try:
    urllib.request.urlopen(url.replace("dir/two.bin", "dir/one.bin"))
    raise AssertionError("a presigned URL for another key worked")
except urllib.error.HTTPError as error:
    check("presigned url for another key", error.code == 403 and b"SignatureDoesNotMatch" in error.read())
put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "checks", "Key": "presigned.txt"}, ExpiresIn=300)
urllib.request.urlopen(urllib.request.Request(put_url, data=b"via presigned put", method="PUT")).read()
check("presigned put", s3.get_object(Bucket="checks", Key="presigned.txt")["Body"].read() == b"via presigned put")
shorts = [signer.generate_presigned_url("get_object", Params={"Bucket": "checks", "Key": "dir/two.bin"}, ExpiresIn=1)
          for signer in (client(), v4)]
time.sleep(2.1)
for short in shorts:
    try:
        urllib.request.urlopen(short)
        raise AssertionError("an expired presigned URL worked")
    except urllib.error.HTTPError as error:
        check("expired presigned url", error.code == 403 and b"AccessDenied" in error.read())

# Virtual-host style: BUCKET.localhost resolves to the loopback here.
real_getaddrinfo = socket.getaddrinfo
def getaddrinfo(host, *rest, **keywords):
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return real_getaddrinfo(host, *rest, **keywords)
socket.getaddrinfo = getaddrinfo
virtual = boto3.client("s3", endpoint_url=f"http://localhost:{PORT}", aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                       region_name="us-east-1", config=Config(s3={"addressing_style": "virtual"}, retries={"max_attempts": 1}))
virtual.put_object(Bucket="checks", Key="virtual/host.txt", Body=b"virtual")
check("virtual-host style", s3.get_object(Bucket="checks", Key="virtual/host.txt")["Body"].read() == b"virtual")
check("virtual-host listing", [i["Key"] for i in virtual.list_objects_v2(Bucket="checks", Prefix="virtual/")["Contents"]] == ["virtual/host.txt"])
socket.getaddrinfo = real_getaddrinfo

# aws-chunked with a trailing CRC32, as botocore sends over HTTPS (its own encoder).
payload = os.urandom(300_000)
def chunked_put(key, trailer_crc=None):
    encoded = AwsChunkedWrapper(io.BytesIO(payload), checksum_cls=Crc32Checksum, checksum_name="x-amz-checksum-crc32",
                                chunk_size=65536).read()
    if trailer_crc:
        encoded = encoded.replace(encoded[encoded.rindex(b"x-amz-checksum-crc32:"):], b"x-amz-checksum-crc32:" + trailer_crc + b"\r\n\r\n")
    request = AWSRequest(method="PUT", url=f"{ENDPOINT}/checks/{key}", data=encoded, headers={
        "Content-Encoding": "aws-chunked", "X-Amz-Trailer": "x-amz-checksum-crc32",
        "X-Amz-Decoded-Content-Length": str(len(payload)), "Content-Length": str(len(encoded))})
    request.context["checksum"] = {"request_algorithm": {"in": "trailer", "algorithm": "crc32", "name": "x-amz-checksum-crc32"}}
    S3SigV4Auth(Credentials(ACCESS, SECRET), "s3", "us-east-1").add_auth(request)
    check("signed as STREAMING-UNSIGNED-PAYLOAD-TRAILER", request.headers["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    connection = http.client.HTTPConnection("127.0.0.1", PORT)
    connection.request("PUT", f"/checks/{key}", body=encoded, headers=dict(request.headers.items()))
    response = connection.getresponse()
    return response.status, response.read()
status, _ = chunked_put("chunked.bin")
check("aws-chunked upload", status == 200 and s3.get_object(Bucket="checks", Key="chunked.bin")["Body"].read() == payload, status)
status, answer = chunked_put("chunked-bad.bin", trailer_crc=b"AAAAAA==")
check("aws-chunked trailer checksum mismatch", status == 400 and b"BadDigest" in answer, answer)

# Browser-form uploads (POST Object) with a policy boto3 signs, sent as a browser would.
import requests
fields = {"acl": "public-read", "Content-Type": "text/plain", "x-amz-meta-from": "form", "Cache-Control": "max-age=5"}
conditions = [{"acl": "public-read"}, {"Content-Type": "text/plain"}, {"x-amz-meta-from": "form"}, {"Cache-Control": "max-age=5"},
              ["starts-with", "$key", "forms/"], ["content-length-range", 1, 1000]]
form = s3.generate_presigned_post(Bucket="checks", Key="forms/${filename}", Fields=fields, Conditions=conditions, ExpiresIn=300)
posted = requests.post(form["url"], data=form["fields"], files={"file": ("hello.txt", b"hello form")})
check("form upload", posted.status_code == 204, (posted.status_code, posted.text))
uploaded = s3.head_object(Bucket="checks", Key="forms/hello.txt")
check("form fields stored", (uploaded["ContentType"], uploaded["Metadata"], uploaded["CacheControl"]) == ("text/plain", {"from": "form"}, "max-age=5"),
      uploaded)
check("form acl", anonymous.get_object(Bucket="checks", Key="forms/hello.txt")["Body"].read() == b"hello form")
created = requests.post(form["url"], data={**form["fields"], "success_action_status": "201"}, files={"file": ("two.txt", b"second")})
check("form field outside the policy", created.status_code == 403 and "Extra input fields: success_action_status" in created.text, created.text)
form201 = s3.generate_presigned_post(Bucket="checks", Key="forms/${filename}", Fields={**fields, "success_action_status": "201"},
                                     Conditions=conditions + [{"success_action_status": "201"}], ExpiresIn=300)
created = requests.post(form201["url"], data=form201["fields"], files={"file": ("two.txt", b"second")})
check("form upload, 201", created.status_code == 201 and "<Key>forms/two.txt</Key>" in created.text, (created.status_code, created.text))
too_big = requests.post(form["url"], data=form["fields"], files={"file": ("big.txt", b"x" * 2000)})
check("form over content-length-range", too_big.status_code == 400 and "EntityTooLarge" in too_big.text, too_big.text)
elsewhere = requests.post(form["url"], data={**form["fields"], "key": "other/${filename}"}, files={"file": ("x.txt", b"x")})
check("form key outside the policy", elsewhere.status_code == 403 and "AccessDenied" in elsewhere.text, elsewhere.text)
forged = requests.post(form["url"], data={**form["fields"], "x-amz-signature": "0" * 64}, files={"file": ("x.txt", b"x")})
check("form with a wrong signature", forged.status_code == 403 and "SignatureDoesNotMatch" in forged.text, forged.text)
unsigned = requests.post(form["url"], data={"key": "forms/anon.txt"}, files={"file": ("x.txt", b"x")})
check("form without a policy", unsigned.status_code == 403 and "AccessDenied" in unsigned.text, unsigned.text)
expired = s3.generate_presigned_post(Bucket="checks", Key="forms/${filename}", Fields=fields, Conditions=conditions, ExpiresIn=-60)
late = requests.post(expired["url"], data=expired["fields"], files={"file": ("x.txt", b"x")})
check("expired form", late.status_code == 403 and "expired" in late.text, late.text)
check("nothing kept from refused forms", [o["Key"] for o in s3.list_objects_v2(Bucket="checks", Prefix="forms/")["Contents"]]
      == ["forms/hello.txt", "forms/two.txt"])
check("not a form", requests.post(form["url"], data=b"plain", headers={"Content-Type": "text/plain"}).status_code == 412)
s3.delete_objects(Bucket="checks", Delete={"Objects": [{"Key": "forms/hello.txt"}, {"Key": "forms/two.txt"}]})

# Expect: 100-continue is answered before the body is sent.
request = AWSRequest(method="PUT", url=f"{ENDPOINT}/checks/expect.bin", data=b"z" * 100000,
                     headers={"Expect": "100-continue", "Content-Length": "100000"})
S3SigV4Auth(Credentials(ACCESS, SECRET), "s3", "us-east-1").add_auth(request)
raw = socket.create_connection(("127.0.0.1", PORT))
head = "PUT /checks/expect.bin HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()) + f"Host: 127.0.0.1:{PORT}\r\n\r\n"
if "host" in (k.lower() for k in request.headers.keys()):
    head = "PUT /checks/expect.bin HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()) + "\r\n"
raw.sendall(head.encode())
raw.settimeout(5)
interim = raw.recv(4096)
check("100 Continue before the body", interim.startswith(b"HTTP/1.1 100 Continue"), interim[:40])
raw.sendall(b"z" * 100000)
final = raw.recv(4096)
check("final answer after the body", final.startswith(b"HTTP/1.1 200"), final[:40])
raw.close()

print("ALL OK")
