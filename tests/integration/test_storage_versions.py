"""Downloads of one version (If-Match on its ETag), held by every store, and the
filesystem backend's sidecars that record the ETag of the data written with them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from deltaglider.adapters.localfs import PAIRING_WAIT, LocalFilesystemStorage
from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.core.errors import IntegrityError, ObjectChanged
from deltaglider.core.models import ObjectKey
from deltaglider.ports import StoragePort
from tests.artifacts import random_file
from tests.conftest import Backend
from tests.fakes import put_file


def check_if_match(storage: StoragePort, bucket: str, tmp_path: Path) -> None:
    (tmp_path / "one").write_bytes(b"version one")
    (tmp_path / "two").write_bytes(b"version two, longer")
    storage.upload(bucket, "k", tmp_path / "one", {"v": "1"})
    first = storage.head(bucket, "k")
    assert first is not None
    storage.download(bucket, "k", tmp_path / "out", if_match=first.etag)
    assert (tmp_path / "out").read_bytes() == b"version one"

    storage.upload(bucket, "k", tmp_path / "two", {"v": "2"})
    with pytest.raises(ObjectChanged, match="overwritten while being read"):
        storage.download(bucket, "k", tmp_path / "stale", if_match=first.etag)
    second = storage.head(bucket, "k")
    assert second is not None
    assert second.etag != first.etag
    storage.download(bucket, "k", tmp_path / "out", if_match=second.etag)
    assert (tmp_path / "out").read_bytes() == b"version two, longer"


def test_download_of_a_version_no_longer_there_is_refused(backend: Backend, tmp_path: Path) -> None:
    """S3 answers 412 PreconditionFailed to a GET with a stale If-Match: ObjectChanged
    (the same code on a create-only PUT stays AlreadyExists)."""
    check_if_match(backend.storage(), backend.bucket, tmp_path)


def test_the_memory_store_refuses_a_stale_version_too(tmp_path: Path) -> None:
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    check_if_match(storage, "bucket", tmp_path)


@pytest.mark.parametrize("backend", ["file"], indirect=True)
def test_a_writer_that_died_between_its_renames_reads_as_corrupt(
    backend: Backend, tmp_path: Path
) -> None:
    """A sidecar whose data never followed: after waiting for it, HEAD gives what is
    there, and the read fails its SHA256 check instead of serving a mismatched pair."""
    service = backend.service()
    assert isinstance(service.storage, LocalFilesystemStorage)
    path = service.storage.root / backend.bucket / "notes.txt"
    key = ObjectKey(backend.bucket, "notes.txt")
    put_file(service, random_file(tmp_path / "one.txt", 30_000, 1), key)
    os.link(path, tmp_path / "data-one")
    put_file(service, random_file(tmp_path / "two.txt", 31_000, 2), key)
    os.replace(tmp_path / "data-one", path)  # the second sidecar with the first data

    started = time.monotonic()
    info = service.storage.head(backend.bucket, "notes.txt")
    assert time.monotonic() - started >= PAIRING_WAIT
    assert info is not None
    assert (info.size, info.metadata["dg-file-size"]) == (30_000, "31000")
    with pytest.raises(IntegrityError):
        service.get(key, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("backend", ["file"], indirect=True)
def test_sidecars_without_a_recorded_etag_are_read_at_once(
    backend: Backend, tmp_path: Path
) -> None:
    """Sidecars written before they recorded ETags, and files put there by hand, are
    taken as they are, without waiting."""
    storage = backend.storage()
    assert isinstance(storage, LocalFilesystemStorage)
    bucket_dir = storage.root / backend.bucket
    (tmp_path / "data").write_bytes(b"old object")
    etag = storage.upload(backend.bucket, "old", tmp_path / "data", {"dg-a": "1"})
    sidecar = bucket_dir / ".old.dg-meta.json"
    assert json.loads(sidecar.read_text())["etag"] == etag
    sidecar.write_text(json.dumps({"format": 1, "metadata": {"dg-a": "1"}}))
    (bucket_dir / "by-hand").write_bytes(b"no sidecar")

    started = time.monotonic()
    old = storage.head(backend.bucket, "old")
    by_hand = storage.head(backend.bucket, "by-hand")
    assert time.monotonic() - started < PAIRING_WAIT
    assert old is not None
    assert (old.etag, dict(old.metadata)) == (etag, {"dg-a": "1"})
    assert by_hand is not None
    assert dict(by_hand.metadata) == {}
