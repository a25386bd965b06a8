"""DeltaGlider's client over in-memory storage: what it refuses and why, what it never
shows, its own calls, multipart rules, and clients that share a store."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

import deltaglider
from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.app.client.backend import Backend
from deltaglider.app.client.factory import answered_by
from deltaglider.core.errors import AccessDenied
from tests.artifacts import release_zip
from tests.fakes import make_service

MIB = 1024 * 1024


def memory_client(storage: InMemoryStorage | None = None) -> Any:
    service, _, _ = make_service(storage)
    front = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="unused",
        aws_secret_access_key="unused",
        config=Config(request_checksum_calculation="when_required"),
    )
    return answered_by(front, Backend(service, None, "us-east-1", "memory:"))


@pytest.fixture
def s3() -> Any:
    return memory_client()


def failure(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return {"Status": response["ResponseMetadata"]["HTTPStatusCode"], **response["Error"]}


def test_unsupported_arguments_are_refused_saying_why(s3: Any) -> None:
    put = {"Bucket": "bucket", "Key": "a.txt", "Body": b"x"}
    refused = failure(lambda: s3.put_object(**put, WebsiteRedirectLocation="/elsewhere"))
    assert refused["Status"] == 501
    assert refused["Code"] == "NotImplemented"
    assert "WebsiteRedirectLocation" in refused["Message"]
    assert "not this one" in refused["Message"]
    assert "Tagging" in failure(lambda: s3.put_object(**put, Tagging="a=b"))["Message"]
    assert failure(lambda: s3.put_object(**put, ACL="public-read"))["Code"] == "NotImplemented"
    assert failure(lambda: s3.put_object(**put, StorageClass="GLACIER"))["Code"] == "NotImplemented"
    s3.put_object(**put, ACL="private", StorageClass="STANDARD")  # what is done anyway
    assert (
        "versions"
        in failure(lambda: s3.get_object(Bucket="bucket", Key="a.txt", VersionId="3"))["Message"]
    )
    assert s3.head_object(Bucket="bucket", Key="a.txt")["ContentLength"] == 1
    with pytest.raises(ParamValidationError):  # botocore's own checks, as for boto3
        s3.put_object(Bucket="bucket", Key="a.txt", Body=iter([b"x"]))


def test_calls_acting_on_stored_objects_are_refused_saying_why(s3: Any) -> None:
    versions = failure(lambda: s3.list_object_versions(Bucket="bucket"))
    assert versions["Code"] == "NotImplemented"
    assert "versions of stored objects" in versions["Message"]
    lifecycle = failure(
        lambda: s3.put_bucket_lifecycle_configuration(
            Bucket="bucket", LifecycleConfiguration={"Rules": []}
        )
    )
    assert "reference" in lifecycle["Message"]
    tagging = failure(lambda: s3.get_object_tagging(Bucket="bucket", Key="a"))
    assert "local store" in tagging["Message"]
    with pytest.raises(deltaglider.PresignedUrlError, match="local store"):
        s3.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "a"})
    with pytest.raises(deltaglider.PresignedUrlError, match="gateway"):
        s3.generate_presigned_post("bucket", "a")


def test_internal_objects_are_never_shown_nor_touched(s3: Any, tmp_path: Path) -> None:
    for version in range(3):
        data = release_zip(tmp_path / f"app-{version}.zip", version).read_bytes()
        s3.put_object(Bucket="bucket", Key=f"rel/app-{version}.zip", Body=data)
    listed = s3.list_objects_v2(Bucket="bucket", Prefix="rel/")
    assert [o["Key"] for o in listed["Contents"]] == [f"rel/app-{v}.zip" for v in range(3)]
    storage = s3._deltaglider.backend.service.storage
    for internal in ("rel/reference.bin", "rel/.dg-index.json", "rel/app-1.zip.delta"):
        assert (
            failure(lambda k=internal: s3.get_object(Bucket="bucket", Key=k))["Code"] == "NoSuchKey"
        )
        assert failure(lambda k=internal: s3.head_object(Bucket="bucket", Key=k))["Code"] == "404"
        s3.delete_object(Bucket="bucket", Key=internal)
        s3.delete_objects(Bucket="bucket", Delete={"Objects": [{"Key": internal}]})
    assert storage.head("bucket", "rel/reference.bin") is not None
    got = s3.get_object(Bucket="bucket", Key="rel/app-1.zip")["Body"].read()
    assert got == (tmp_path / "app-1.zip").read_bytes()


def test_a_body_read_once_from_a_pipe(s3: Any) -> None:
    """A stream that cannot seek (botocore itself cannot send one) is stored as read."""
    data = os.urandom(3 * MIB + 5)
    reader, writer = os.pipe()

    def feed() -> None:
        with os.fdopen(writer, "wb") as out:
            out.write(data)

    threading.Thread(target=feed).start()
    with os.fdopen(reader, "rb") as stream:
        put = s3.put_object(Bucket="bucket", Key="piped.bin", Body=stream)
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    body = s3.get_object(Bucket="bucket", Key="piped.bin")["Body"]
    assert body.read(10) == data[:10]
    assert b"".join(body.iter_chunks(MIB)) == data[10:]


def test_deltaglider_calls(s3: Any, tmp_path: Path) -> None:
    zips = [release_zip(tmp_path / f"app-{v}.zip", v).read_bytes() for v in range(3)]
    for version, data in enumerate(zips):
        s3.put_object(Bucket="bucket", Key=f"rel/app-{version}.zip", Body=data)
    s3.put_object(Bucket="bucket", Key="rel/notes.txt", Body=b"notes")
    info = s3.deltaglider_object_info(Bucket="bucket", Key="rel/app-2.zip")
    assert info["StoredAs"] == "delta"
    assert info["StoredKey"] == "rel/app-2.zip.delta"
    assert info["StoredSize"] < len(zips[2]) / 10
    assert info["Reference"] == "rel/reference.bin"
    assert info["Codec"] == "zlib-dict"
    assert info["Sha256"] == hashlib.sha256(zips[2]).hexdigest()
    assert info["ETag"] == s3.head_object(Bucket="bucket", Key="rel/app-2.zip")["ETag"]
    whole = s3.deltaglider_object_info(Bucket="bucket", Key="rel/notes.txt")
    assert (whole["StoredAs"], whole["Reference"], whole["Codec"]) == ("direct", None, None)
    stats = s3.deltaglider_stats(Bucket="bucket", Prefix="rel/")
    assert (stats["Objects"], stats["Deltas"], stats["References"]) == (4, 3, 1)
    assert stats["LogicalBytes"] == sum(map(len, zips)) + 5
    assert stats["StoredBytes"] < stats["LogicalBytes"]
    assert [row["Prefix"] for row in stats["Prefixes"]] == ["rel/"]
    checked = s3.deltaglider_verify(Bucket="bucket", Key="rel/app-1.zip")
    assert checked["Valid"]
    assert checked["ActualSha256"] == hashlib.sha256(zips[1]).hexdigest()
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.deltaglider_object_info(Bucket="bucket", Key="rel/none.zip")
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.deltaglider_stats(Bucket="no-such-bucket")


def test_a_damaged_delta_is_an_error_never_wrong_bytes(s3: Any, tmp_path: Path) -> None:
    for version in range(2):
        data = release_zip(tmp_path / f"app-{version}.zip", version).read_bytes()
        s3.put_object(Bucket="bucket", Key=f"rel/app-{version}.zip", Body=data)
    storage = s3._deltaglider.backend.service.storage
    delta = storage.buckets["bucket"]["rel/app-1.zip.delta"]
    delta.data = delta.data[:-8]
    broken = failure(lambda: s3.get_object(Bucket="bucket", Key="rel/app-1.zip"))
    assert (broken["Status"], broken["Code"]) == (500, "InternalError")
    assert "rel/app-1.zip" in broken["Message"], broken


def test_multipart_rules(s3: Any) -> None:
    key = {"Bucket": "bucket", "Key": "big.bin"}
    upload = s3.create_multipart_upload(**key, ContentType="application/x-big")["UploadId"]
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), b"tail"]
    etags = [
        s3.upload_part(**key, UploadId=upload, PartNumber=n, Body=data)["ETag"]
        for n, data in enumerate(parts, 1)
    ]
    assert etags == [f'"{hashlib.md5(p).hexdigest()}"' for p in parts]
    listed = s3.list_parts(**key, UploadId=upload)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [
        (1, 5 * MIB),
        (2, 5 * MIB),
        (3, 4),
    ]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="bucket")["Uploads"]] == [
        upload
    ]
    wrong_md5 = failure(
        lambda: s3.upload_part(
            **key, UploadId=upload, PartNumber=4, Body=b"x", ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg=="
        )
    )
    assert wrong_md5["Code"] == "BadDigest"
    given = [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]
    complete = {"Bucket": "bucket", "Key": "big.bin", "UploadId": upload}
    out_of_order = failure(
        lambda: s3.complete_multipart_upload(
            **complete, MultipartUpload={"Parts": [given[1], given[0]]}
        )
    )
    assert out_of_order["Code"] == "InvalidPartOrder"
    wrong = failure(
        lambda: s3.complete_multipart_upload(
            **complete, MultipartUpload={"Parts": [given[0], {"PartNumber": 2, "ETag": '"00"'}]}
        )
    )
    assert (wrong["Code"], wrong["PartNumber"]) == ("InvalidPart", "2")
    done = s3.complete_multipart_upload(**complete, MultipartUpload={"Parts": given})
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    assert done["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-3"'
    head = s3.head_object(**key)
    assert (head["ETag"], head["ContentType"]) == (done["ETag"], "application/x-big")
    assert s3.get_object(**key)["Body"].read() == b"".join(parts)
    gone = failure(lambda: s3.abort_multipart_upload(**key, UploadId=upload))
    assert (gone["Code"], gone["UploadId"]) == ("NoSuchUpload", upload)
    second = s3.create_multipart_upload(**key)["UploadId"]
    first_part = s3.upload_part(**key, UploadId=second, PartNumber=1, Body=b"a")["ETag"]
    last_part = s3.upload_part(**key, UploadId=second, PartNumber=2, Body=b"b")["ETag"]
    too_small = failure(
        lambda: s3.complete_multipart_upload(
            Bucket="bucket",
            Key="big.bin",
            UploadId=second,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": 1, "ETag": first_part},
                    {"PartNumber": 2, "ETag": last_part},
                ]
            },
        )
    )
    assert (too_small["Code"], too_small["ProposedSize"]) == ("EntityTooSmall", "1")


def test_clients_sharing_a_store_see_each_others_writes(tmp_path: Path) -> None:
    """A long-lived client acts on what is in the store now, not on what it saw."""
    storage = InMemoryStorage()
    first, second = memory_client(storage), memory_client(storage)
    old, new = (release_zip(tmp_path / f"app-{v}.zip", v).read_bytes() for v in (1, 2))
    first.put_object(Bucket="bucket", Key="rel/app.zip", Body=old)
    assert first.get_object(Bucket="bucket", Key="rel/app.zip")["Body"].read() == old
    second.put_object(Bucket="bucket", Key="rel/app.zip", Body=new)
    assert first.get_object(Bucket="bucket", Key="rel/app.zip")["Body"].read() == new
    assert first.head_object(Bucket="bucket", Key="rel/app.zip")["ContentLength"] == len(new)
    second.delete_object(Bucket="bucket", Key="rel/app.zip")
    assert failure(lambda: first.head_object(Bucket="bucket", Key="rel/app.zip"))["Status"] == 404
    assert first.list_objects_v2(Bucket="bucket")["KeyCount"] == 0
    assert sorted(storage.buckets["bucket"]) == []  # its reference went with it


def test_exception_classes_are_boto3s(s3: Any) -> None:
    plain = boto3.client("s3", region_name="us-east-1")
    assert s3.exceptions.NoSuchKey is plain.exceptions.NoSuchKey
    with pytest.raises(plain.exceptions.NoSuchKey):
        s3.get_object(Bucket="bucket", Key="none")


def test_create_client_takes_boto3s_arguments(tmp_path: Path) -> None:
    client = deltaglider.create_client(
        "s3", endpoint_url=tmp_path.as_uri(), region_name="eu-west-1"
    )
    assert client.meta.region_name == "eu-west-1"
    client.create_bucket(
        Bucket="bkt", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    assert client.get_bucket_location(Bucket="bkt")["LocationConstraint"] == "eu-west-1"
    assert (
        failure(
            lambda: client.create_bucket(
                Bucket="bkt", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
        )["Code"]
        == "BucketAlreadyOwnedByYou"
    )
    with pytest.raises(ValueError, match="S3 client"):
        deltaglider.create_client("sqs")
    with pytest.raises(ValueError, match="file:///abs/path"):
        deltaglider.create_client(endpoint_url="file://relative/path")
    client.put_object(Bucket="bkt", Key="k", Body=io.BytesIO(b"x"))
    assert (tmp_path / "bkt" / "k").read_bytes() == b"x"


def test_importing_deltaglider_does_not_import_boto3() -> None:
    """The command line imports `deltaglider` first thing: the client comes on demand."""
    code = "import sys, deltaglider; print('boto3' in sys.modules, deltaglider.__version__)"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.split() == ["False", deltaglider.__version__]
    assert callable(deltaglider.create_client)


def test_a_store_never_reached_raises_as_boto3_does(tmp_path: Path) -> None:
    """No answer from the store: botocore's own exception, not an S3 error."""
    arguments: dict[str, Any] = {
        "endpoint_url": "http://127.0.0.1:9",  # the discard port: nothing listens there
        "region_name": "us-east-1",
        "aws_access_key_id": "k",
        "aws_secret_access_key": "s",
        "config": Config(retries={"max_attempts": 1}, connect_timeout=2),
    }
    for client in (boto3.client("s3", **arguments), deltaglider.create_client(**arguments)):
        with pytest.raises(EndpointConnectionError, match=r"127\.0\.0\.1:9"):
            client.head_object(Bucket="b", Key="k")


def test_a_bucket_holding_only_internal_objects_goes_with_them(tmp_path: Path) -> None:
    storage = InMemoryStorage()
    s3 = memory_client(storage)
    for version in (1, 2):
        data = release_zip(tmp_path / f"app-{version}.zip", version).read_bytes()
        s3.put_object(Bucket="bucket", Key=f"rel/app-{version}.zip", Body=data)
    assert failure(lambda: s3.delete_bucket(Bucket="bucket"))["Code"] == "BucketNotEmpty"
    storage.delete("bucket", "rel/app-1.zip.delta")  # as a crash or another tool may leave it
    storage.delete("bucket", "rel/app-2.zip.delta")
    assert storage.buckets["bucket"]  # the reference and the listing index remain
    s3.delete_bucket(Bucket="bucket")
    assert "bucket" not in storage.buckets


class RefusingStorage(InMemoryStorage):
    """A store that refuses to delete one key (a bucket policy denying it, which moto
    cannot play)."""

    def delete(self, bucket: str, key: str) -> None:
        if key.startswith("locked/"):
            raise AccessDenied(bucket=bucket, key=key, operation="DeleteObjects")
        super().delete(bucket, key)


def test_delete_objects_answers_each_key() -> None:
    s3 = memory_client(RefusingStorage())
    for key in ("open/a.txt", "locked/b.txt"):
        s3.put_object(Bucket="bucket", Key=key, Body=b"x")
    keys = ["open/a.txt", "locked/b.txt", "never/there.txt"]
    done = s3.delete_objects(Bucket="bucket", Delete={"Objects": [{"Key": k} for k in keys]})
    assert done["Deleted"] == [{"Key": "open/a.txt"}, {"Key": "never/there.txt"}]
    assert done["Errors"] == [
        {"Key": "locked/b.txt", "Code": "AccessDenied", "Message": "Access Denied"}
    ]
    quiet = s3.delete_objects(
        Bucket="bucket", Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
    )
    assert "Deleted" not in quiet
    assert [e["Key"] for e in quiet["Errors"]] == ["locked/b.txt"]
    assert s3.head_object(Bucket="bucket", Key="locked/b.txt")["ContentLength"] == 1
    too_many = [{"Key": f"k{i}"} for i in range(1001)]
    failed = failure(lambda: s3.delete_objects(Bucket="bucket", Delete={"Objects": too_many}))
    assert failed["Code"] == "MalformedXML"
