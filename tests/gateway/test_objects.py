"""Objects and buckets through boto3 (its default configuration: checksums, Expect:
100-continue) against `deltaglider serve --data`: what S3 answers, the gateway answers."""

from __future__ import annotations

import base64
import datetime
import hashlib
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from tests.gateway.conftest import clean_env
from tests.gateway.server import USERS, Gateway, running
from tests.gateway.test_auth import error_of


def test_put_get_head_keep_what_s3_keeps(gateway: Gateway, bucket: str) -> None:
    client = gateway.client()
    body = b"release notes\n" * 1000
    put = client.put_object(
        Bucket=bucket, Key="docs/NOTES.txt", Body=body, ContentType="text/markdown",
        Metadata={"build": "42", "Dg-Custom": "mine"}, CacheControl="max-age=60",
        ContentDisposition='attachment; filename="n.txt"', ContentEncoding="identity",
        ContentLanguage="en", Expires=datetime.datetime(2033, 1, 1, tzinfo=datetime.UTC),
        ACL="private",
    )  # fmt: skip
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = client.get_object(Bucket=bucket, Key="docs/NOTES.txt")
    assert got["Body"].read() == body
    head = client.head_object(Bucket=bucket, Key="docs/NOTES.txt", VersionId="null")
    for answer in (got, head):
        assert answer["ETag"] == put["ETag"]
        assert answer["ContentLength"] == len(body)
        assert answer["ContentType"] == "text/markdown"
        assert answer["Metadata"] == {"build": "42", "dg-custom": "mine"}
        assert answer["CacheControl"] == "max-age=60"
        assert answer["ContentDisposition"] == 'attachment; filename="n.txt"'
        assert answer["ContentLanguage"] == "en"
        assert answer["ContentEncoding"] == "identity"
        assert answer["ExpiresString"] == "Sat, 01 Jan 2033 00:00:00 GMT"
    overridden = client.get_object(
        Bucket=bucket,
        Key="docs/NOTES.txt",
        ResponseContentType="x/y",
        ResponseCacheControl="no-cache",
    )
    assert (overridden["ContentType"], overridden["CacheControl"]) == ("x/y", "no-cache")


def test_ranges_parts_and_conditions(gateway: Gateway, bucket: str) -> None:
    client = gateway.client()
    body = bytes(range(256)) * 100
    etag = client.put_object(Bucket=bucket, Key="r.bin", Body=body)["ETag"]
    part = client.get_object(Bucket=bucket, Key="r.bin", Range="bytes=100-199")
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert part["ContentRange"] == f"bytes 100-199/{len(body)}"
    assert part["Body"].read() == body[100:200]
    assert client.get_object(Bucket=bucket, Key="r.bin", Range="bytes=-10")["Body"].read() == (
        body[-10:])  # fmt: skip
    assert error_of(client.get_object, Bucket=bucket, Key="r.bin", Range="bytes=99999-") == (
        416, "InvalidRange")  # fmt: skip
    whole = client.get_object(Bucket=bucket, Key="r.bin", PartNumber=1)
    assert whole["Body"].read() == body
    assert error_of(client.get_object, Bucket=bucket, Key="r.bin", PartNumber=2) == (
        400, "InvalidPart")  # fmt: skip

    assert client.get_object(Bucket=bucket, Key="r.bin", IfMatch=etag)["Body"].read() == body
    assert error_of(client.get_object, Bucket=bucket, Key="r.bin", IfMatch='"0"') == (
        412, "PreconditionFailed")  # fmt: skip
    assert error_of(client.get_object, Bucket=bucket, Key="r.bin", IfNoneMatch=etag)[0] == 304
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    assert error_of(client.get_object, Bucket=bucket, Key="r.bin", IfModifiedSince=later)[0] == (
        304)  # fmt: skip
    earlier = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    assert error_of(client.get_object, Bucket=bucket, Key="r.bin",
                    IfUnmodifiedSince=earlier) == (412, "PreconditionFailed")  # fmt: skip


def test_conditional_puts_and_content_md5(gateway: Gateway, bucket: str) -> None:
    client = gateway.client()
    first = client.put_object(Bucket=bucket, Key="c.txt", Body=b"one", IfNoneMatch="*")
    assert error_of(client.put_object, Bucket=bucket, Key="c.txt", Body=b"two",
                    IfNoneMatch="*") == (412, "PreconditionFailed")  # fmt: skip
    assert error_of(client.put_object, Bucket=bucket, Key="c.txt", Body=b"two",
                    IfMatch='"00"') == (412, "PreconditionFailed")  # fmt: skip
    assert error_of(client.put_object, Bucket=bucket, Key="c.txt", Body=b"two",
                    IfNoneMatch=first["ETag"]) == (412, "PreconditionFailed")  # fmt: skip
    client.put_object(Bucket=bucket, Key="c.txt", Body=b"one", IfNoneMatch='"other"')
    client.put_object(Bucket=bucket, Key="c.txt", Body=b"two", IfMatch=first["ETag"])
    assert error_of(client.put_object, Bucket=bucket, Key="absent.txt", Body=b"x",
                    IfMatch=first["ETag"]) == (404, "NoSuchKey")  # fmt: skip
    wrong = base64.b64encode(hashlib.md5(b"not it").digest()).decode()
    assert error_of(client.put_object, Bucket=bucket, Key="m.txt", Body=b"it",
                    ContentMD5=wrong) == (400, "BadDigest")  # fmt: skip
    assert error_of(client.put_object, Bucket=bucket, Key="m.txt", Body=b"it",
                    ContentMD5="c2hvcnQ=") == (400, "InvalidDigest")  # fmt: skip
    assert error_of(client.head_object, Bucket=bucket, Key="m.txt")[0] == 404
    assert client.get_object(Bucket=bucket, Key="c.txt")["Body"].read() == b"two"


def test_copies_with_their_directives_and_conditions(gateway: Gateway, bucket: str) -> None:
    client = gateway.client()
    etag = client.put_object(Bucket=bucket, Key="a/src name.txt", Body=b"copy me",
                             ContentType="text/plain", Metadata={"k": "v"})["ETag"]  # fmt: skip
    source = {"Bucket": bucket, "Key": "a/src name.txt"}
    copied = client.copy_object(Bucket=bucket, Key="b/kept.txt", CopySource=source)
    assert copied["CopyObjectResult"]["ETag"] == etag
    kept = client.head_object(Bucket=bucket, Key="b/kept.txt")
    assert (kept["ContentType"], kept["Metadata"]) == ("text/plain", {"k": "v"})
    client.copy_object(Bucket=bucket, Key="b/new.txt", CopySource=source,
                       MetadataDirective="REPLACE", Metadata={"n": "1"},
                       ContentType="a/b")  # fmt: skip
    replaced = client.head_object(Bucket=bucket, Key="b/new.txt")
    assert (replaced["ContentType"], replaced["Metadata"]) == ("a/b", {"n": "1"})
    assert error_of(client.copy_object, Bucket=bucket, Key="b/x", CopySource=source,
                    CopySourceIfMatch='"0"') == (412, "PreconditionFailed")  # fmt: skip
    assert error_of(client.copy_object, Bucket=bucket, Key="a/src name.txt",
                    CopySource=source) == (400, "InvalidRequest")  # fmt: skip
    assert error_of(client.copy_object, Bucket=bucket, Key="b/y",
                    CopySource={"Bucket": bucket, "Key": "none"}) == (404, "NoSuchKey")  # fmt: skip


def test_deletes_one_and_many(gateway: Gateway, bucket: str) -> None:
    client = gateway.client()
    for n in range(5):
        client.put_object(Bucket=bucket, Key=f"d/{n}.txt", Body=b"x")
    client.delete_object(Bucket=bucket, Key="d/0.txt")
    client.delete_object(Bucket=bucket, Key="d/never.txt")  # S3: a missing key is no error
    answer = client.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "d/1.txt"}, {"Key": "d/2.txt", "VersionId": "null"}, {"Key": "d/none"},
    ]})  # fmt: skip
    assert sorted(d["Key"] for d in answer["Deleted"]) == ["d/1.txt", "d/2.txt", "d/none"]
    quiet = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d/3.txt"}],
                                                         "Quiet": True})  # fmt: skip
    assert "Deleted" not in quiet
    listed = client.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == ["d/4.txt"]


def test_malformed_xml_and_unsupported_requests(gateway: Gateway, bucket: str) -> None:
    client = gateway.client()

    def truncate(params: dict[str, Any], **_: Any) -> None:
        params["body"] = b"<Delete><Object><Key>x</Key>"  # before the checksums are made

    client.meta.events.register_first("before-call.s3.DeleteObjects", truncate)
    assert error_of(client.delete_objects, Bucket=bucket,
                    Delete={"Objects": [{"Key": "x"}]}) == (400, "MalformedXML")  # fmt: skip
    changed = gateway.client()  # a body changed after its CRC32 was computed
    changed.meta.events.register(
        "before-sign.s3.DeleteObjects",
        lambda request, **_: setattr(request, "data", b"<Delete><Object><Key>x</Key>"),
    )
    assert error_of(changed.delete_objects, Bucket=bucket,
                    Delete={"Objects": [{"Key": "x"}]}) == (400, "BadDigest")  # fmt: skip
    plain = gateway.client()
    client.put_object(Bucket=bucket, Key="t", Body=b"x")
    assert error_of(plain.put_object_tagging, Bucket=bucket, Key="t",
                    Tagging={"TagSet": []}) == (501, "NotImplemented")  # fmt: skip
    assert error_of(plain.put_object, Bucket=bucket, Key="e", Body=b"x",
                    ServerSideEncryption="AES256") == (501, "NotImplemented")  # fmt: skip
    assert error_of(plain.head_object, Bucket=bucket, Key="e")[0] == 404
    assert error_of(plain.put_object, Bucket=bucket, Key="k" * 1025, Body=b"x") == (
        400, "KeyTooLongError")  # fmt: skip
    assert error_of(plain.get_object, Bucket=bucket, Key="t", VersionId="v1")[0] == 400


def test_buckets(gateway: Gateway) -> None:
    client = gateway.client()
    names = [f"gw-bucket-{n}" for n in range(3)]
    for name in names:
        client.create_bucket(Bucket=name)
    client.create_bucket(Bucket=names[0])  # again: success, as in us-east-1
    client.create_bucket(Bucket="gw-located", CreateBucketConfiguration={
        "LocationConstraint": "eu-west-1"})  # fmt: skip
    assert client.get_bucket_location(Bucket="gw-located")["LocationConstraint"] == "eu-west-1"
    assert client.get_bucket_location(Bucket=names[0])["LocationConstraint"] is None
    listed = [b["Name"] for b in client.list_buckets()["Buckets"]]
    assert set(names) <= set(listed)
    paged = client.list_buckets(MaxBuckets=1)
    assert len(paged["Buckets"]) == 1
    assert "ContinuationToken" in paged
    client.head_bucket(Bucket=names[1])
    assert client.get_bucket_versioning(Bucket=names[1]).get("Status") is None
    acl = client.get_bucket_acl(Bucket=names[1])
    assert acl["Owner"]["ID"] == "GWTESTKEY1"
    assert acl["Grants"][0]["Permission"] == "FULL_CONTROL"
    client.put_object(Bucket=names[1], Key="x", Body=b"x")
    assert error_of(client.delete_bucket, Bucket=names[1]) == (409, "BucketNotEmpty")
    client.delete_object(Bucket=names[1], Key="x")
    client.delete_bucket(Bucket=names[1])
    assert error_of(client.head_bucket, Bucket=names[1])[0] == 404
    assert error_of(client.list_objects_v2, Bucket=names[1]) == (404, "NoSuchBucket")
    assert error_of(client.create_bucket, Bucket="ab") == (400, "InvalidBucketName")
    assert error_of(client.put_object, Bucket="gw-none", Key="k", Body=b"x") == (
        404, "NoSuchBucket")  # fmt: skip


def keys(page: dict[str, Any]) -> list[str]:
    return [o["Key"] for o in page.get("Contents", [])]


def prefixes(page: dict[str, Any]) -> list[str]:
    return [p["Prefix"] for p in page.get("CommonPrefixes", [])]


def test_listings_v1_v2_and_versions(gateway: Gateway, bucket: str) -> None:
    client = gateway.client()
    names = ["a.txt", "b/1.txt", "b/2.txt", "c d+e.txt", "c%f.txt", "d/x/1.txt", "e-1", "e_2"]
    for name in names:
        client.put_object(Bucket=bucket, Key=name, Body=name.encode())
    assert keys(client.list_objects_v2(Bucket=bucket)) == names
    top = client.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert keys(top) == ["a.txt", "c d+e.txt", "c%f.txt", "e-1", "e_2"]
    assert prefixes(top) == ["b/", "d/"]
    assert prefixes(client.list_objects(Bucket=bucket, Delimiter="-")) == ["e-"]
    assert keys(client.list_objects_v2(Bucket=bucket, Prefix="b/")) == ["b/1.txt", "b/2.txt"]
    assert keys(client.list_objects_v2(Bucket=bucket, StartAfter="c%f.txt")) == names[5:]

    seen: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = client.list_objects_v2(Bucket=bucket, MaxKeys=3, **token)
        seen += keys(page)
        assert page["KeyCount"] == len(keys(page))
        if not page["IsTruncated"]:
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    assert seen == names
    v1 = client.list_objects(Bucket=bucket, MaxKeys=2, Marker="b/2.txt")
    assert keys(v1) == ["c d+e.txt", "c%f.txt"]
    assert v1["IsTruncated"]
    assert v1["Contents"][0]["Owner"]["ID"] == "GWTESTKEY1"
    assert client.list_objects_v2(Bucket=bucket, MaxKeys=0)["KeyCount"] == 0

    request = urllib.request.Request(  # the raw answer: keys URL-encoded, as asked
        gateway.client(signature_version="s3v4").generate_presigned_url("list_objects_v2", Params={
            "Bucket": bucket, "EncodingType": "url", "Prefix": "c"}))  # fmt: skip
    with urllib.request.urlopen(request) as response:
        document = response.read().decode()
    assert "<Key>c%20d%2Be.txt</Key>" in document
    assert "<Key>c%25f.txt</Key>" in document

    versions = client.list_object_versions(Bucket=bucket, MaxKeys=5)
    assert [v["Key"] for v in versions["Versions"]] == names[:5]
    assert {v["VersionId"] for v in versions["Versions"]} == {"null"}
    assert versions["IsTruncated"]
    rest = client.list_object_versions(Bucket=bucket, KeyMarker=versions["NextKeyMarker"])
    assert [v["Key"] for v in rest["Versions"]] == names[5:]


@pytest.mark.parametrize("size", [0, 1, 5 * 1024 * 1024 + 3])
def test_bodies_of_any_size_round_trip_and_stream(gateway: Gateway, bucket: str,
                                                  size: int) -> None:  # fmt: skip
    client = gateway.client()
    body = hashlib.sha256(str(size).encode()).digest() * (size // 32) + b"z" * (size % 32)
    client.put_object(Bucket=bucket, Key=f"s/{size}.bin", Body=body)
    got = client.get_object(Bucket=bucket, Key=f"s/{size}.bin")
    assert got["ContentLength"] == size
    assert got["Body"].read() == body
    with pytest.raises(ClientError):
        client.get_object(Bucket=bucket, Key=f"s/{size}.bin", Range=f"bytes={size}-")


def test_virtual_host_addressing_with_a_domain(tmp_path: Path) -> None:
    """`serve --domain gw.test`: boto3 in virtual-host style, reaching the gateway as its
    HTTP proxy (no DNS here resolves bucket.gw.test), SigV4 and SigV2 alike."""
    work = tmp_path / "vhost"
    with running(work, ["--data", str(work / "store")], env=clean_env(),
                 extra=["--domain", "gw.test"], workers=1) as gateway:  # fmt: skip
        for signature in ("s3v4", "s3"):
            client = boto3.client(
                "s3", endpoint_url=f"http://gw.test:{gateway.port}",
                aws_access_key_id="GWTESTKEY1", aws_secret_access_key=USERS["GWTESTKEY1"],
                region_name="us-east-1", config=botocore.config.Config(
                    signature_version=signature, s3={"addressing_style": "virtual"},
                    proxies={"http": gateway.endpoint}),
            )  # fmt: skip
            bucket = f"vhost-{signature.replace('3', '')}"
            client.create_bucket(Bucket=bucket)
            client.put_object(Bucket=bucket, Key="dir/a b.txt", Body=b"virtual")
            assert client.get_object(Bucket=bucket, Key="dir/a b.txt")["Body"].read() == (
                b"virtual")  # fmt: skip
            assert keys(client.list_objects_v2(Bucket=bucket)) == ["dir/a b.txt"]
        path_style = gateway.client()
        assert path_style.get_object(Bucket="vhost-sv4", Key="dir/a b.txt")["Body"].read() == (
            b"virtual")  # fmt: skip


def test_the_longest_keys_s3_takes(gateway: Gateway, bucket: str) -> None:
    """1,024 bytes of UTF-8 (three bytes a character: over 3,000 characters once
    percent-encoded in the request line), through headers and a presigned URL; in
    segments a file name can hold (the filesystem's 255 bytes: a longer one is 400)."""
    key = ("发" * 84 + "/") * 4 + "x" * 12  # 1,024 bytes
    assert len(key.encode()) == 1024
    client = gateway.client()
    client.put_object(Bucket=bucket, Key=key, Body=b"long")
    assert keys(client.list_objects_v2(Bucket=bucket)) == [key]
    disposition = "attachment; " + "f" * 300
    url = gateway.client(signature_version="s3v4").generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": key, "ResponseContentDisposition": disposition},
    )
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"long"
    assert error_of(client.put_object, Bucket=bucket, Key=key + "y", Body=b"x") == (
        400, "KeyTooLongError")  # fmt: skip
    assert error_of(client.put_object, Bucket=bucket, Key="发" * 90, Body=b"x") == (
        400, "InvalidArgument")  # fmt: skip


@pytest.mark.parametrize("expect", ["200", "", "100-continue"])
def test_expectations_s3_ignores_are_ignored(gateway: Gateway, bucket: str, expect: str) -> None:
    """S3 stores the object whatever `Expect` says (the conformance suite sends `200` and
    an empty one); 100-continue is still answered, for clients that wait for it."""
    client = gateway.client()

    def add_expect(params: dict[str, Any], **_: Any) -> None:
        params["headers"]["Expect"] = expect

    client.meta.events.register("before-call.s3.PutObject", add_expect)
    client.meta.events.register("before-call.s3.CreateBucket", add_expect)
    body = b"expected\n" * 200_000  # large enough that clients ask for 100-continue
    client.put_object(Bucket=bucket, Key="expect.txt", Body=body)
    assert client.get_object(Bucket=bucket, Key="expect.txt")["Body"].read() == body
    client.create_bucket(Bucket=f"{bucket}-x")
    client.head_bucket(Bucket=f"{bucket}-x")
