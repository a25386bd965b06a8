"""Buckets written by others read through `deltaglider.create_client`: one laid out by the
original DeltaGlider 6.x (and a 0.x delta beside), and one written by our `deltaglider`
command; and what the client writes, read back by the command. On every backend."""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

import deltaglider
from tests.artifacts import release_zip
from tests.conftest import Backend, raw_client
from tests.e2e.test_cli import run
from tests.integration.test_legacy_format import PREFIX, legacy_bucket, sha

__all__ = ["legacy_bucket"]  # the fixture, shared with the format's own tests


def client_for(backend: Backend) -> Any:
    env = backend.env
    return deltaglider.create_client(
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "unused"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "unused"),
        config=Config(request_checksum_calculation="when_required"),
    )


def test_a_bucket_written_by_deltaglider_6_reads_through_the_client(
    backend: Backend, legacy_bucket: dict[str, Path], tmp_path: Path
) -> None:
    s3 = client_for(backend)
    listed = {
        item["Key"]: item
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=backend.bucket)
        for item in page.get("Contents", [])
    }
    assert {k: v["Size"] for k, v in listed.items()} == {
        f"{PREFIX}/{name}": path.stat().st_size for name, path in legacy_bucket.items()
    }
    for name, original in legacy_bucket.items():
        key = f"{PREFIX}/{name}"
        got = s3.get_object(Bucket=backend.bucket, Key=key)
        assert got["Body"].read() == original.read_bytes(), name
        head = s3.head_object(Bucket=backend.bucket, Key=key)
        assert got["ETag"] == head["ETag"] == listed[key]["ETag"]
        assert head["Metadata"] == {}  # 6.x's own keys are not the user's
        out = tmp_path / name
        s3.download_file(backend.bucket, key, str(out))
        assert sha(out) == sha(original)
        assert s3.deltaglider_verify(Bucket=backend.bucket, Key=key)["Valid"]
    info = s3.deltaglider_object_info(Bucket=backend.bucket, Key=f"{PREFIX}/app-es8.zip")
    assert (info["StoredAs"], info["Reference"]) == ("delta", f"{PREFIX}/reference.bin")
    assert info["Codec"] == "xdelta3"


def test_the_client_and_the_command_read_each_others_objects(
    backend: Backend, tmp_path: Path
) -> None:
    env, bucket = backend.subprocess_env(), backend.bucket
    built = tmp_path / "built"
    built.mkdir()
    files = [release_zip(built / f"app-{v}.zip", v) for v in range(1, 4)]
    result = run(["cp", "--recursive", str(built), f"s3://{bucket}/rel/"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    s3 = client_for(backend)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="rel/")["Contents"]
    assert [item["Key"] for item in listed] == [f"rel/{f.name}" for f in files]
    for item, original in zip(listed, files, strict=True):
        data = original.read_bytes()
        assert item["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        assert s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() == data
        assert s3.deltaglider_object_info(Bucket=bucket, Key=item["Key"])["StoredAs"] == "delta"
    newer = release_zip(tmp_path / "app-4.zip", 4).read_bytes()
    s3.put_object(Bucket=bucket, Key="rel/app-4.zip", Body=newer, ContentType="application/zip")
    back = tmp_path / "back.zip"
    result = run(["cp", f"s3://{bucket}/rel/app-4.zip", str(back)], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert back.read_bytes() == newer
    result = run(["ls", f"s3://{bucket}/rel/"], env, tmp_path)
    assert "app-4.zip" in result.stdout
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": i["Key"]} for i in listed]})
    s3.delete_object(Bucket=bucket, Key="rel/app-4.zip")
    result = run(["ls", "--recursive", f"s3://{bucket}/"], env, tmp_path)
    assert result.stdout == ""
    assert backend.storage().head(bucket, "rel/reference.bin") is None  # nothing left behind


def test_presigned_urls_where_they_can_work(s3_backend: Backend, tmp_path: Path) -> None:
    """A presigned GET of an object stored whole hands out its bytes; one of a delta, or
    any write, is refused, naming DeltaGlider's gateway."""
    s3, bucket = client_for(s3_backend), s3_backend.bucket
    s3.put_object(Bucket=bucket, Key="docs/readme.txt", Body=b"read me\n")
    for version in (1, 2):
        data = release_zip(tmp_path / f"app-{version}.zip", version).read_bytes()
        s3.put_object(Bucket=bucket, Key=f"rel/app-{version}.zip", Body=data)
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "docs/readme.txt"}, ExpiresIn=60
    )
    with urllib.request.urlopen(url) as answer:
        assert answer.read() == b"read me\n"
    with pytest.raises(
        deltaglider.PresignedUrlError, match=r"stored as a delta.*deltaglider serve"
    ):
        s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "rel/app-2.zip"})
    with pytest.raises(deltaglider.PresignedUrlError, match="put_object"):
        s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "x"})
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "missing"})


def test_settings_go_to_the_store_on_the_stored_object(s3_backend: Backend, tmp_path: Path) -> None:
    """An object's tags are its stored object's (K.delta for a delta); a bucket's own
    settings are the store's, as they are."""
    s3, bucket = client_for(s3_backend), s3_backend.bucket
    for version in (1, 2):
        data = release_zip(tmp_path / f"app-{version}.zip", version).read_bytes()
        s3.put_object(Bucket=bucket, Key=f"rel/app-{version}.zip", Body=data)
    tags = {"TagSet": [{"Key": "release", "Value": "2"}]}
    s3.put_object_tagging(Bucket=bucket, Key="rel/app-2.zip", Tagging=tags)
    assert s3.get_object_tagging(Bucket=bucket, Key="rel/app-2.zip")["TagSet"] == tags["TagSet"]
    raw = raw_client(s3_backend.env)
    assert (
        raw.get_object_tagging(Bucket=bucket, Key="rel/app-2.zip.delta")["TagSet"] == tags["TagSet"]
    )
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object_tagging(Bucket=bucket, Key="rel/app-3.zip")
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "ci"}]})
    assert raw.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "ci"}]
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") is None
    s3.get_waiter("object_exists").wait(Bucket=bucket, Key="rel/app-1.zip")
