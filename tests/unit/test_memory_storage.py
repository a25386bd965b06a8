"""The in-memory store's copies and removals of many keys: the fake the unit tests run on
behaves as the real stores do (tests/integration/test_storage_copy.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.core.errors import (
    AccessDenied,
    BucketNotFound,
    InvalidBucketName,
    KeyTooLong,
    MetadataTooLarge,
    ObjectChanged,
    ObjectNotFound,
    StorageError,
)
from deltaglider.ports import ObjectInfo


@pytest.fixture
def storage() -> InMemoryStorage:
    store = InMemoryStorage()
    store.create_bucket("bucket")
    store.create_bucket("other")
    return store


def put(storage: InMemoryStorage, key: str, data: bytes, tmp_path: Path, **meta: str) -> str:
    (tmp_path / "upload").write_bytes(data)
    return storage.upload("bucket", key, tmp_path / "upload", meta)


def keys(storage: InMemoryStorage, bucket: str = "bucket") -> list[str]:
    return [e.key for e in storage.list(bucket, "") if isinstance(e, ObjectInfo)]


def test_copy_keeps_or_replaces_the_metadata(storage: InMemoryStorage, tmp_path: Path) -> None:
    put(storage, "src", b"payload", tmp_path, **{"dg-a": "1"})

    kept = storage.copy("bucket", "src", "other", "kept")
    replaced = storage.copy("bucket", "src", "bucket", "replaced", metadata={"dg-b": "2"})

    for bucket, key, etag, metadata in (
        ("other", "kept", kept, {"dg-a": "1"}),
        ("bucket", "replaced", replaced, {"dg-b": "2"}),
    ):
        info = storage.head(bucket, key)
        assert info is not None
        assert (info.size, info.etag, dict(info.metadata)) == (7, etag, metadata)
        assert storage.buckets[bucket][key].data == b"payload"
    assert [e.etag for e in storage.list("other", "")] == [kept]  # type: ignore[union-attr]


def test_copied_metadata_is_the_copys_own(storage: InMemoryStorage, tmp_path: Path) -> None:
    put(storage, "src", b"payload", tmp_path, **{"dg-a": "1"})
    storage.copy("bucket", "src", "bucket", "dest")
    storage.buckets["bucket"]["src"].metadata["dg-a"] = "changed"
    assert storage.buckets["bucket"]["dest"].metadata == {"dg-a": "1"}


def test_copy_refusals(storage: InMemoryStorage, tmp_path: Path) -> None:
    first = put(storage, "src", b"one", tmp_path)
    put(storage, "src", b"two", tmp_path)

    with pytest.raises(ObjectChanged):
        storage.copy("bucket", "src", "bucket", "dest", if_match=first)
    with pytest.raises(ObjectNotFound):
        storage.copy("bucket", "absent", "bucket", "dest")
    for source, dest in (("nowhere", "bucket"), ("bucket", "nowhere")):
        with pytest.raises(BucketNotFound) as missing:
            storage.copy(source, "src", dest, "dest")
        assert (missing.value.bucket, missing.value.operation) == ("nowhere", "CopyObject")
    with pytest.raises(StorageError, match="onto itself"):
        storage.copy("bucket", "src", "bucket", "src")
    with pytest.raises(KeyTooLong):
        storage.copy("bucket", "src", "bucket", "k" * 1025)
    with pytest.raises(MetadataTooLarge):
        storage.copy("bucket", "src", "bucket", "dest", metadata={"dg-a": "v" * 2100})
    assert keys(storage) == ["src"]


def test_delete_many_removes_keys_and_ignores_absent_ones(
    storage: InMemoryStorage, tmp_path: Path
) -> None:
    for index in range(50):
        put(storage, f"k{index:02d}", b"x", tmp_path)
    assert storage.delete_many("bucket", [f"k{index:02d}" for index in range(1, 60)]) == []
    assert keys(storage) == ["k00"]
    assert storage.delete_many("bucket", []) == []
    with pytest.raises(BucketNotFound) as missing:
        storage.delete_many("nowhere", ["k00"])
    assert missing.value.operation == "DeleteObjects"


class DeleteOnlyUnder(InMemoryStorage):
    """A user whose policy allows deletes under `releases/` only, as S3 enforces it key
    by key in a DeleteObjects."""

    def delete(self, bucket: str, key: str) -> None:
        if not key.startswith("releases/"):
            raise AccessDenied(f"Access denied (DeleteObject on s3://{bucket}/{key})")
        super().delete(bucket, key)


def test_delete_many_lists_the_keys_refused_with_their_errors(tmp_path: Path) -> None:
    storage = DeleteOnlyUnder()
    storage.create_bucket("bucket")
    for key in ("releases/a", "other/b", "releases/c"):
        put(storage, key, b"x", tmp_path)

    failed = storage.delete_many("bucket", ["releases/a", "other/b", "releases/c", "other/d"])

    assert [(key, type(error)) for key, error in failed] == [
        ("other/b", AccessDenied),
        ("other/d", AccessDenied),
    ]
    assert keys(storage) == ["other/b"]


@pytest.mark.parametrize(
    "name", ["b", "Bad_Name", "UPPER", "-lead", "trail-", "a..b", "192.168.1.1", "xn--x", "b" * 64]
)
def test_bucket_names_s3_refuses_are_refused(name: str) -> None:
    storage = InMemoryStorage()
    with pytest.raises(InvalidBucketName) as refused:
        storage.create_bucket(name)
    assert (refused.value.code, refused.value.status) == ("InvalidBucketName", 400)
    assert storage.buckets == {}
