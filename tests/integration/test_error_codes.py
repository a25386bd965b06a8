"""Every store says what went wrong with S3's codes: the same code, HTTP status, message
and operation from the in-memory store, the filesystem, moto and Ceph RGW, each answer
produced for real (nothing injected here; test_s3_refusals.py injects what no server
here answers)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from deltaglider.adapters.localfs import LocalFilesystemStorage
from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.adapters.s3 import S3Storage
from deltaglider.core.errors import (
    AlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    DeltaGliderError,
    ObjectChanged,
    ObjectNotFound,
)
from tests.conftest import BACKENDS, make_backend

Store = InMemoryStorage | LocalFilesystemStorage | S3Storage
MISSING = f"dg-missing-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Answer:
    """What a client would be told."""

    kind: type[DeltaGliderError]
    code: str
    status: int
    message: str
    operation: str
    bucket: str
    key: str | None


@pytest.fixture(params=["memory", *BACKENDS])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Store, str]:
    """Each store in turn, with an empty bucket."""
    if request.param == "memory":
        memory = InMemoryStorage()
        memory.create_bucket("dg-test-memory")
        return memory, "dg-test-memory"
    moto = request.getfixturevalue("moto_endpoint") if request.param != "file" else None
    backend = make_backend(request.param, tmp_path, moto, monkeypatch)
    storage = backend.storage()
    assert isinstance(storage, LocalFilesystemStorage | S3Storage)
    return storage, backend.bucket


def answer(call: Callable[[], object]) -> Answer:
    with pytest.raises(DeltaGliderError) as raised:
        call()
    error = raised.value
    assert error.operation is not None
    assert error.bucket is not None
    assert "\n" not in str(error)
    return Answer(
        type(error),
        error.code,
        error.status,
        error.explanation,
        error.operation,
        error.bucket,
        error.key,
    )


NO_SUCH_BUCKET = "The specified bucket does not exist"
NO_SUCH_KEY = "The specified key does not exist."
PRECONDITION = "At least one of the pre-conditions you specified did not hold"


def test_a_missing_bucket_is_no_such_bucket_for_every_call(
    store: tuple[Store, str], tmp_path: Path
) -> None:
    storage, _ = store
    source = tmp_path / "data"
    source.write_bytes(b"payload")

    def missing(operation: str) -> Answer:
        return Answer(BucketNotFound, "NoSuchBucket", 404, NO_SUCH_BUCKET, operation, MISSING, None)

    assert answer(lambda: list(storage.list(MISSING, ""))) == missing("ListObjectsV2")
    assert answer(lambda: storage.upload(MISSING, "k", source, {})) == missing("PutObject")
    assert answer(lambda: storage.delete(MISSING, "k")) == missing("DeleteObject")
    assert answer(lambda: storage.delete_bucket(MISSING)) == missing("DeleteBucket")
    assert not storage.bucket_exists(MISSING)  # HeadBucket's bodiless 404: "no", not an error


def test_a_missing_key_read_is_no_such_key(store: tuple[Store, str], tmp_path: Path) -> None:
    storage, bucket = store
    got = answer(lambda: storage.download(bucket, "absent.zip", tmp_path / "out"))
    assert got == Answer(
        ObjectNotFound, "NoSuchKey", 404, NO_SUCH_KEY, "GetObject", bucket, "absent.zip"
    )
    assert not (tmp_path / "out").exists()


def test_conditional_requests_that_fail_are_precondition_failed(
    store: tuple[Store, str], tmp_path: Path
) -> None:
    storage, bucket = store
    source = tmp_path / "data"
    source.write_bytes(b"first")
    first = storage.upload(bucket, "k", source, {}, create_only=True)
    source.write_bytes(b"second, longer")
    storage.upload(bucket, "k", source, {})

    taken = answer(lambda: storage.upload(bucket, "k", source, {}, create_only=True))
    stale = answer(lambda: storage.download(bucket, "k", tmp_path / "out", if_match=first))

    failed = ("PreconditionFailed", 412, PRECONDITION)
    assert taken == Answer(AlreadyExists, *failed, "PutObject", bucket, "k")
    assert stale == Answer(ObjectChanged, *failed, "GetObject", bucket, "k")


def test_removing_a_bucket_that_holds_objects_is_bucket_not_empty(
    store: tuple[Store, str], tmp_path: Path
) -> None:
    storage, bucket = store
    source = tmp_path / "data"
    source.write_bytes(b"payload")
    storage.upload(bucket, "k", source, {})

    got = answer(lambda: storage.delete_bucket(bucket))

    not_empty = ("BucketNotEmpty", 409, "The bucket you tried to delete is not empty")
    assert got == Answer(BucketNotEmpty, *not_empty, "DeleteBucket", bucket, None)
    assert storage.bucket_exists(bucket)
