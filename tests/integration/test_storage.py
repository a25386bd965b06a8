"""The StoragePort contract, held by every backend: filesystem, moto and Ceph RGW."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from deltaglider.adapters.localfs import LocalFilesystemStorage
from deltaglider.adapters.s3 import S3Storage
from deltaglider.core.errors import AlreadyExists, BucketNotFound, InvalidKeyError, ObjectNotFound
from deltaglider.ports import CommonPrefix, ObjectInfo
from tests.conftest import Backend


def put(storage: object, bucket: str, key: str, data: bytes, tmp_path: Path, **meta: str) -> None:
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    storage.upload(bucket, key, source, meta)  # type: ignore[attr-defined]


def test_upload_head_download_delete(backend: Backend, tmp_path: Path) -> None:
    storage = backend.storage()
    put(storage, backend.bucket, "dir/obj.bin", b"payload" * 100, tmp_path, **{"dg-a": "1"})

    info = storage.head(backend.bucket, "dir/obj.bin")
    assert info is not None
    assert info.size == 700
    assert info.metadata == {"dg-a": "1"}
    assert info.last_modified.tzinfo is not None

    storage.download(backend.bucket, "dir/obj.bin", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"payload" * 100

    storage.delete(backend.bucket, "dir/obj.bin")
    assert storage.head(backend.bucket, "dir/obj.bin") is None
    storage.delete(backend.bucket, "dir/obj.bin")  # deleting twice is fine


def test_overwrite_replaces_data_and_metadata(backend: Backend, tmp_path: Path) -> None:
    storage = backend.storage()
    put(storage, backend.bucket, "k", b"old", tmp_path, **{"dg-v": "1", "dg-old": "x"})
    put(storage, backend.bucket, "k", b"newer", tmp_path, **{"dg-v": "2"})
    info = storage.head(backend.bucket, "k")
    assert info is not None
    assert (info.size, dict(info.metadata)) == (5, {"dg-v": "2"})


def test_listing_order_prefixes_and_delimiter(backend: Backend, tmp_path: Path) -> None:
    storage = backend.storage()
    for key in ["a/b/c.zip", "a/b.zip", "a-b.zip", "a/x.zip", "z.zip", "a/b/d/e.zip"]:
        put(storage, backend.bucket, key, key.encode(), tmp_path)

    everything = [e.key for e in storage.list(backend.bucket, "") if isinstance(e, ObjectInfo)]
    assert everything == ["a-b.zip", "a/b.zip", "a/b/c.zip", "a/b/d/e.zip", "a/x.zip", "z.zip"]

    under_a = list(storage.list(backend.bucket, "a/", delimiter="/"))
    assert [(type(e).__name__, getattr(e, "key", getattr(e, "prefix", ""))) for e in under_a] == [
        ("ObjectInfo", "a/b.zip"),
        ("CommonPrefix", "a/b/"),
        ("ObjectInfo", "a/x.zip"),
    ]
    partial = list(storage.list(backend.bucket, "a/b", delimiter="/"))
    assert partial == [
        next(e for e in under_a if getattr(e, "key", "") == "a/b.zip"),
        CommonPrefix("a/b/"),
    ]
    assert [e.key for e in storage.list(backend.bucket, "a/b/") if isinstance(e, ObjectInfo)] == [
        "a/b/c.zip",
        "a/b/d/e.zip",
    ]
    assert list(storage.list(backend.bucket, "nothing-here/")) == []


def test_unicode_keys_and_metadata_values(backend: Backend, tmp_path: Path) -> None:
    storage = backend.storage()
    put(storage, backend.bucket, "släpp/π-1.0.zip", b"x", tmp_path, **{"dg-name": "pi%20x"})
    info = storage.head(backend.bucket, "släpp/π-1.0.zip")
    assert info is not None
    assert info.metadata["dg-name"] == "pi%20x"
    assert [e.key for e in storage.list(backend.bucket, "släpp/")] == ["släpp/π-1.0.zip"]  # type: ignore[union-attr]


def test_missing_bucket_and_key(backend: Backend, tmp_path: Path) -> None:
    storage = backend.storage()
    assert storage.head(backend.bucket, "absent") is None
    assert storage.bucket_exists(backend.bucket)
    assert not storage.bucket_exists("dg-no-such-bucket")
    with pytest.raises(ObjectNotFound):
        storage.download(backend.bucket, "absent", tmp_path / "out")
    with pytest.raises(BucketNotFound):
        list(storage.list("dg-no-such-bucket", ""))
    with pytest.raises(BucketNotFound):
        put(storage, "dg-no-such-bucket", "k", b"x", tmp_path)


def test_large_object_uses_multipart_and_survives(backend: Backend, tmp_path: Path) -> None:
    storage = backend.storage()
    data = bytes(range(256)) * (20 * 1024 * 1024 // 256 + 7)  # above the 16 MiB threshold
    put(storage, backend.bucket, "big.bin", data, tmp_path, **{"dg-size": str(len(data))})
    info = storage.head(backend.bucket, "big.bin")
    assert info is not None
    assert (info.size, info.metadata["dg-size"]) == (len(data), str(len(data)))
    storage.download(backend.bucket, "big.bin", tmp_path / "big.out")
    assert (tmp_path / "big.out").read_bytes() == data


def test_create_only_above_the_single_put_limit_goes_multipart(
    s3_backend: Backend, tmp_path: Path
) -> None:
    """References above 5 GiB: parts, then a completion with If-None-Match: *. The limits
    are lowered here (S3Storage takes them as arguments) so 12 MiB stands for 5 GiB+."""
    built = s3_backend.storage()
    assert isinstance(built, S3Storage)
    storage = S3Storage(built.client, single_put_limit=6 * 2**20, part_size=5 * 2**20)
    source = tmp_path / "big.bin"
    source.write_bytes(random.Random(3).randbytes(12 * 2**20 + 11))  # three parts

    storage.upload(s3_backend.bucket, "ref.bin", source, {"dg-x": "1"}, create_only=True)
    with pytest.raises(AlreadyExists):
        storage.upload(s3_backend.bucket, "ref.bin", tmp_path / "big.bin", {}, create_only=True)

    info = storage.head(s3_backend.bucket, "ref.bin")
    assert info is not None
    assert (info.size, info.metadata) == (source.stat().st_size, {"dg-x": "1"})
    storage.download(s3_backend.bucket, "ref.bin", tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == source.read_bytes()
    pending = built.client.list_multipart_uploads(Bucket=s3_backend.bucket)
    assert pending.get("Uploads", []) == []  # the refused one was aborted


# ------------------------------------------------------------- filesystem backend only


def fs_store(tmp_path: Path) -> LocalFilesystemStorage:
    (tmp_path / "root" / "bucket").mkdir(parents=True)
    return LocalFilesystemStorage(tmp_path / "root")


@pytest.mark.parametrize(
    "key", ["../escape", "a/../../escape", "/abs", "a//b", "./a", "a/.b.dg-meta.json", "x.dg-tmp-1"]
)
def test_filesystem_refuses_keys_that_escape_or_collide(tmp_path: Path, key: str) -> None:
    storage = fs_store(tmp_path)
    with pytest.raises(InvalidKeyError):
        put(storage, "bucket", key, b"x", tmp_path)
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "root" / "escape").exists()


@pytest.mark.parametrize("bucket", ["..", ".", "a/b", "", "UPPER/../x"])
def test_filesystem_refuses_bad_bucket_names(tmp_path: Path, bucket: str) -> None:
    with pytest.raises(InvalidKeyError):
        fs_store(tmp_path).head(bucket, "k")  # type: ignore[func-returns-value]


def test_filesystem_bare_directory_is_an_empty_bucket(tmp_path: Path) -> None:
    storage = fs_store(tmp_path)
    assert storage.bucket_exists("bucket")
    assert list(storage.list("bucket", "")) == []


def test_filesystem_hides_metadata_and_leaves_no_temp_files(tmp_path: Path) -> None:
    storage = fs_store(tmp_path)
    put(storage, "bucket", "r/a.zip", b"data", tmp_path, **{"dg-k": "v"})
    names = sorted(p.name for p in (tmp_path / "root" / "bucket" / "r").iterdir())
    assert names == [".a.zip.dg-meta.json", "a.zip"]
    assert [e.key for e in storage.list("bucket", "")] == ["r/a.zip"]  # type: ignore[union-attr]
    storage.delete("bucket", "r/a.zip")
    assert list((tmp_path / "root" / "bucket").iterdir()) == []  # empty folders pruned


def test_filesystem_key_through_an_object_is_refused(tmp_path: Path) -> None:
    storage = fs_store(tmp_path)
    put(storage, "bucket", "a", b"file", tmp_path)
    with pytest.raises(InvalidKeyError):
        put(storage, "bucket", "a/b", b"x", tmp_path)


def test_filesystem_link_is_the_version_linked(tmp_path: Path) -> None:
    """A reference read from a local store is a hard link, not a copy: an overwrite of
    the object (a new file renamed over it) leaves the linked bytes as they were."""
    storage = fs_store(tmp_path)
    storage.upload("bucket", "ref.bin", b"first version", {})
    linked = tmp_path / "linked"
    assert storage.link("bucket", "ref.bin", linked)
    assert linked.stat().st_nlink == 2
    storage.upload("bucket", "ref.bin", b"second version", {})
    assert linked.read_bytes() == b"first version"
    assert not storage.link("bucket", "missing.bin", tmp_path / "other")
    assert not (tmp_path / "other").exists()
