"""Copies inside the store and removals of many keys, held by every backend: the
filesystem, moto and Ceph RGW."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from deltaglider.adapters.localfs import PAIRING_WAIT, LocalFilesystemStorage
from deltaglider.adapters.s3 import S3Storage
from deltaglider.core.errors import (
    AccessDenied,
    BucketNotFound,
    KeyTooLong,
    MetadataTooLarge,
    ObjectChanged,
    ObjectNotFound,
    StorageError,
)
from deltaglider.ports import ObjectInfo, StoragePort
from tests.artifacts import random_file
from tests.conftest import Backend, raw_client

MIB = 2**20


def put(
    storage: StoragePort, bucket: str, key: str, data: bytes, tmp_path: Path, **meta: str
) -> str:
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    return storage.upload(bucket, key, source, meta)


def fetch(storage: StoragePort, bucket: str, key: str, tmp_path: Path) -> bytes:
    storage.download(bucket, key, tmp_path / "fetched.bin")
    return (tmp_path / "fetched.bin").read_bytes()


def listed(storage: StoragePort, bucket: str, prefix: str = "") -> dict[str, ObjectInfo]:
    return {e.key: e for e in storage.list(bucket, prefix) if isinstance(e, ObjectInfo)}


def second_bucket(backend: Backend, storage: StoragePort) -> str:
    other = f"{backend.bucket}-b"
    storage.create_bucket(other)  # type: ignore[attr-defined]
    return other


# ------------------------------------------------------------------------------ copy


def test_copy_keeps_the_metadata_and_the_bytes(backend: Backend, tmp_path: Path) -> None:
    storage = backend.storage()
    data = random_file(tmp_path / "src", 300_000, 1).read_bytes()
    put(storage, backend.bucket, "a/src.bin", data, tmp_path, **{"dg-a": "1", "dg-b": "two"})

    etag = storage.copy(backend.bucket, "a/src.bin", backend.bucket, "b/dest.bin")

    copied = storage.head(backend.bucket, "b/dest.bin")
    assert copied is not None
    assert (copied.size, dict(copied.metadata)) == (300_000, {"dg-a": "1", "dg-b": "two"})
    assert copied.etag == etag
    assert listed(storage, backend.bucket)["b/dest.bin"].etag == etag
    assert fetch(storage, backend.bucket, "b/dest.bin", tmp_path) == data
    assert fetch(storage, backend.bucket, "a/src.bin", tmp_path) == data  # the source stays


def test_copy_replaces_the_metadata_when_given(backend: Backend, tmp_path: Path) -> None:
    storage = backend.storage()
    put(storage, backend.bucket, "src", b"payload", tmp_path, **{"dg-a": "1"})

    etag = storage.copy(backend.bucket, "src", backend.bucket, "dest", metadata={"dg-c": "3"})
    copied = storage.head(backend.bucket, "dest")
    assert copied is not None
    assert (dict(copied.metadata), copied.etag) == ({"dg-c": "3"}, etag)

    empty = storage.copy(backend.bucket, "src", backend.bucket, "bare", metadata={})
    bare = storage.head(backend.bucket, "bare")
    assert bare is not None
    assert (dict(bare.metadata), bare.etag) == ({}, empty)
    assert fetch(storage, backend.bucket, "bare", tmp_path) == b"payload"


def test_copy_onto_itself_needs_new_metadata(backend: Backend, tmp_path: Path) -> None:
    """S3 refuses a CopyObject onto itself that changes nothing; every store does."""
    storage = backend.storage()
    put(storage, backend.bucket, "k", b"payload", tmp_path, **{"dg-a": "1"})
    with pytest.raises(StorageError):
        storage.copy(backend.bucket, "k", backend.bucket, "k")

    etag = storage.copy(backend.bucket, "k", backend.bucket, "k", metadata={"dg-a": "2"})
    info = storage.head(backend.bucket, "k")
    assert info is not None
    assert (dict(info.metadata), info.etag) == ({"dg-a": "2"}, etag)
    assert fetch(storage, backend.bucket, "k", tmp_path) == b"payload"


def test_copy_into_another_bucket_replaces_what_was_there(backend: Backend, tmp_path: Path) -> None:
    storage = backend.storage()
    other = second_bucket(backend, storage)
    put(storage, other, "dest", b"old and longer", tmp_path, **{"dg-old": "1"})
    put(storage, backend.bucket, "src", b"new", tmp_path, **{"dg-new": "1"})

    etag = storage.copy(backend.bucket, "src", other, "dest")

    assert listed(storage, other)["dest"].etag == etag
    info = storage.head(other, "dest")
    assert info is not None
    assert (info.size, dict(info.metadata)) == (3, {"dg-new": "1"})
    assert fetch(storage, other, "dest", tmp_path) == b"new"
    assert list(listed(storage, backend.bucket)) == ["src"]


def test_copy_of_one_version_refuses_a_later_one(backend: Backend, tmp_path: Path) -> None:
    """The copy is bound to the version checked: with a stale If-Match, nothing is copied."""
    storage = backend.storage()
    first = put(storage, backend.bucket, "k", b"version one", tmp_path, **{"dg-v": "1"})
    second = put(storage, backend.bucket, "k", b"version two", tmp_path, **{"dg-v": "2"})
    assert first != second

    with pytest.raises(ObjectChanged):
        storage.copy(backend.bucket, "k", backend.bucket, "dest", if_match=first)
    assert storage.head(backend.bucket, "dest") is None

    storage.copy(backend.bucket, "k", backend.bucket, "dest", if_match=second)
    assert fetch(storage, backend.bucket, "dest", tmp_path) == b"version two"


def test_copy_from_or_to_what_is_not_there(backend: Backend, tmp_path: Path) -> None:
    storage = backend.storage()
    put(storage, backend.bucket, "src", b"x", tmp_path)

    with pytest.raises(ObjectNotFound) as missing:
        storage.copy(backend.bucket, "absent", backend.bucket, "dest")
    assert (missing.value.bucket, missing.value.key) == (backend.bucket, "absent")
    with pytest.raises(ObjectNotFound):
        storage.copy(backend.bucket, "absent", backend.bucket, "dest", if_match='"0"')
    with pytest.raises(BucketNotFound) as from_nowhere:
        storage.copy("dg-no-such-bucket", "src", backend.bucket, "dest")
    assert (from_nowhere.value.bucket, from_nowhere.value.operation) == (
        "dg-no-such-bucket",
        "CopyObject",
    )
    with pytest.raises(BucketNotFound) as to_nowhere:
        storage.copy(backend.bucket, "src", "dg-no-such-bucket", "dest")
    assert (to_nowhere.value.bucket, to_nowhere.value.operation) == (
        "dg-no-such-bucket",
        "CopyObject",
    )
    assert list(listed(storage, backend.bucket)) == ["src"]


def test_copy_holds_the_destination_to_s3_limits(backend: Backend, tmp_path: Path) -> None:
    storage = backend.storage()
    put(storage, backend.bucket, "src", b"x", tmp_path, **{"dg-a": "1"})
    with pytest.raises(KeyTooLong):
        storage.copy(backend.bucket, "src", backend.bucket, "k" * 1025)
    with pytest.raises(MetadataTooLarge):
        storage.copy(backend.bucket, "src", backend.bucket, "dest", metadata={"dg-a": "v" * 2100})
    assert list(listed(storage, backend.bucket)) == ["src"]


# ------------------------------------------------------------------------------ copy in parts


def small_limits(backend: Backend) -> S3Storage:
    """S3Storage with its copy limits lowered: 12 MiB stands for more than 5 GiB."""
    built = backend.storage()
    assert isinstance(built, S3Storage)
    return S3Storage(built.client, single_copy_limit=6 * MIB, copy_part_size=5 * MIB)


def pending_uploads(storage: S3Storage, bucket: str) -> list[Any]:
    return list(storage.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def test_a_large_copy_goes_in_parts(s3_backend: Backend, tmp_path: Path) -> None:
    storage = small_limits(s3_backend)
    bucket = s3_backend.bucket
    source = random_file(tmp_path / "big", 12 * MIB + 11, 4)
    storage.upload(bucket, "big", source, {"dg-a": "1"})
    parts: list[str] = []
    storage.client.meta.events.register(
        "before-call.s3.UploadPartCopy", lambda params, **_: parts.append(params["url_path"])
    )

    kept = storage.copy(bucket, "big", bucket, "kept")
    replaced = storage.copy(bucket, "big", bucket, "replaced", metadata={"dg-b": "2"})

    assert len(parts) == 6  # three parts a copy
    assert kept.endswith('-3"')  # S3's ETag of three parts
    assert replaced.endswith('-3"')
    entries = listed(storage, bucket)
    assert (entries["kept"].etag, entries["replaced"].etag) == (kept, replaced)
    for key, metadata in (("kept", {"dg-a": "1"}), ("replaced", {"dg-b": "2"})):
        info = storage.head(bucket, key)
        assert info is not None
        assert (info.size, dict(info.metadata), info.etag) == (
            source.stat().st_size,
            metadata,
            entries[key].etag,
        )
        assert fetch(storage, bucket, key, tmp_path) == source.read_bytes()
    assert pending_uploads(storage, bucket) == []


def during_the_second_part(storage: S3Storage, act: Any) -> None:
    """Run `act` (another client's real request) once, right after the first part is
    copied: the hook only times a concurrent write, the store does the rest."""
    done: list[int] = []

    def after_part(**_: Any) -> None:
        if not done:
            done.append(1)
            act()

    storage.client.meta.events.register("after-call.s3.UploadPartCopy", after_part)


def test_a_copy_in_parts_whose_source_goes_away_is_aborted(
    s3_backend: Backend, tmp_path: Path
) -> None:
    storage = small_limits(s3_backend)
    bucket = s3_backend.bucket
    storage.upload(bucket, "big", random_file(tmp_path / "big", 12 * MIB, 5), {})
    other = raw_client(s3_backend.env)
    during_the_second_part(storage, lambda: other.delete_object(Bucket=bucket, Key="big"))  # type: ignore[attr-defined]

    with pytest.raises(ObjectNotFound) as gone:
        storage.copy(bucket, "big", bucket, "dest")
    assert gone.value.key == "big"
    assert storage.head(bucket, "dest") is None
    assert pending_uploads(storage, bucket) == []


def test_a_copy_in_parts_whose_source_is_overwritten_is_aborted(
    s3_backend: Backend, tmp_path: Path
) -> None:
    """Every part is bound to the version found first, and so is the completion: a copy
    never mixes the parts of two versions (moto and Ceph RGW 16 ignore the parts'
    If-Match: the HEAD before the completion is what catches it there)."""
    storage = small_limits(s3_backend)
    bucket = s3_backend.bucket
    storage.upload(bucket, "big", random_file(tmp_path / "v1", 12 * MIB, 6), {})
    newer = random_file(tmp_path / "v2", 12 * MIB, 7).read_bytes()
    other = raw_client(s3_backend.env)
    during_the_second_part(
        storage,
        lambda: other.put_object(Bucket=bucket, Key="big", Body=newer),  # type: ignore[attr-defined]
    )

    with pytest.raises(ObjectChanged):
        storage.copy(bucket, "big", bucket, "dest")
    assert storage.head(bucket, "dest") is None
    assert pending_uploads(storage, bucket) == []


# ------------------------------------------------------------------------------ delete_many


def put_many(storage: StoragePort, bucket: str, keys: list[str], tmp_path: Path) -> None:
    source = tmp_path / "small.bin"
    source.write_bytes(b"x")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: storage.upload(bucket, key, source, {}), keys))


def test_delete_many_removes_thousands_of_keys(backend: Backend, tmp_path: Path) -> None:
    """2,500 keys (three DeleteObjects of up to 1,000) of which 300 are not there: those
    are no error, as in S3."""
    storage = backend.storage()
    present = [f"d{index // 100}/k{index:05d}" for index in range(2_200)]
    absent = [f"d{index // 100}/k{index:05d}" for index in range(2_200, 2_500)]
    put_many(storage, backend.bucket, [*present, "kept/one"], tmp_path)
    requests: list[int] = []
    if isinstance(storage, S3Storage):
        storage.client.meta.events.register(
            "before-call.s3.DeleteObjects", lambda **_: requests.append(1)
        )

    assert storage.delete_many(backend.bucket, present + absent) == []

    assert list(listed(storage, backend.bucket)) == ["kept/one"]
    assert storage.delete_many(backend.bucket, []) == []
    if isinstance(storage, S3Storage):
        assert len(requests) == 3


def test_delete_many_in_a_missing_bucket(backend: Backend) -> None:
    with pytest.raises(BucketNotFound) as missing:
        backend.storage().delete_many("dg-no-such-bucket", ["k"])
    assert missing.value.operation == "DeleteObjects"


@pytest.fixture
def locked_key(backend: Backend, tmp_path: Path) -> Iterator[str]:
    """`locked/x`, stored, in a place the store will not remove anything from, by the
    store's own means: a bucket policy denying s3:DeleteObject there (moto and Ceph), an
    immutable folder on the filesystem (chattr +i holds even for root)."""
    storage = backend.storage()
    put(storage, backend.bucket, "locked/x", b"x", tmp_path)
    if isinstance(storage, S3Storage):
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:DeleteObject",
                    "Resource": f"arn:aws:s3:::{backend.bucket}/locked/*",
                }
            ],
        }
        storage.client.put_bucket_policy(Bucket=backend.bucket, Policy=json.dumps(policy))
        yield "locked/x"
        storage.client.delete_bucket_policy(Bucket=backend.bucket)
        return
    assert isinstance(storage, LocalFilesystemStorage)
    folder = storage.root / backend.bucket / "locked"
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], check=False).returncode:
        pytest.skip("this filesystem cannot make a folder immutable (chattr +i)")
    try:
        yield "locked/x"
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


def test_delete_many_reports_the_keys_the_store_refuses(
    backend: Backend, tmp_path: Path, locked_key: str
) -> None:
    storage = backend.storage()
    for key in ("a", "b"):
        put(storage, backend.bucket, key, b"x", tmp_path)

    failed = storage.delete_many(backend.bucket, ["a", locked_key, "b", "absent"])

    assert [key for key, _ in failed] == [locked_key]
    assert isinstance(failed[0][1], AccessDenied)
    assert locked_key in str(failed[0][1])
    assert list(listed(storage, backend.bucket)) == [locked_key]
    storage.delete(backend.bucket, "a")  # and one key alone is refused the same way
    with pytest.raises(AccessDenied):
        storage.delete(backend.bucket, locked_key)


# ------------------------------------------------------------------------------ filesystem only


class OverwrittenAfterHead(LocalFilesystemStorage):
    """The filesystem store in which `src` is overwritten for real (by `overwrite`, another
    writer's upload) right after the first HEAD of it, before its answer is used: the
    subclass only times a real concurrent write."""

    def __init__(self, root: Path, overwrite: Callable[[], object]) -> None:
        super().__init__(root)
        self.overwrite: Callable[[], object] | None = overwrite

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        found = super().head(bucket, key)
        if key == "src" and self.overwrite is not None:
            overwrite, self.overwrite = self.overwrite, None
            overwrite()
        return found


@pytest.mark.parametrize("backend", ["file"], indirect=True)
def test_a_file_copy_takes_the_bytes_and_metadata_of_one_version(
    backend: Backend, tmp_path: Path
) -> None:
    """An overwrite between the HEAD (metadata) and the open (bytes): the copy is of the
    new version whole, and its sidecar records the copy's own ETag, so its HEAD pairs
    them at once."""
    writer = backend.storage()
    assert isinstance(writer, LocalFilesystemStorage)
    writer.upload(backend.bucket, "src", random_file(tmp_path / "v1", 1_000, 1), {"dg-v": "1"})
    newer = random_file(tmp_path / "v2", 2_000, 2)
    storage = OverwrittenAfterHead(
        writer.root, lambda: writer.upload(backend.bucket, "src", newer, {"dg-v": "2"})
    )

    etag = storage.copy(backend.bucket, "src", backend.bucket, "dest")

    started = time.monotonic()
    info = storage.head(backend.bucket, "dest")
    assert time.monotonic() - started < PAIRING_WAIT
    assert info is not None
    assert (info.etag, info.size, dict(info.metadata)) == (etag, 2_000, {"dg-v": "2"})
    assert fetch(storage, backend.bucket, "dest", tmp_path) == newer.read_bytes()
    names = [p.name for p in (writer.root / backend.bucket).iterdir()]
    assert sorted(names) == [".dest.dg-meta.json", ".src.dg-meta.json", "dest", "src"]


@pytest.mark.parametrize("backend", ["file"], indirect=True)
def test_a_file_copy_of_a_version_overwritten_after_its_head(
    backend: Backend, tmp_path: Path
) -> None:
    writer = backend.storage()
    assert isinstance(writer, LocalFilesystemStorage)
    first = writer.upload(backend.bucket, "src", random_file(tmp_path / "v1", 1_000, 1), {})
    newer = random_file(tmp_path / "v2", 2_000, 2)
    storage = OverwrittenAfterHead(
        writer.root, lambda: writer.upload(backend.bucket, "src", newer, {})
    )
    with pytest.raises(ObjectChanged):
        storage.copy(backend.bucket, "src", backend.bucket, "dest", if_match=first)
    assert storage.head(backend.bucket, "dest") is None
