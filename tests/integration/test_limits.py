"""S3's limits on every backend: keys up to 1,024 bytes of UTF-8 are stored and read back
whatever their characters, and the stored objects stay within S3's key and metadata
limits (moto does not check them; real S3 refuses the PUT)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from deltaglider.adapters.localfs import LocalFilesystemStorage
from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.core.errors import InvalidKeyError, StorageError
from deltaglider.core.models import ObjectKey, StoredAs
from deltaglider.ports import ObjectInfo
from tests.artifacts import release_zip, sdist
from tests.conftest import Backend
from tests.fakes import put_file

KEY_LIMIT = 1024  # S3's, in bytes of UTF-8
METADATA_LIMIT = 2048  # S3's, in bytes of user metadata
# The filesystem holds file names of up to 255 bytes: the length is in the depth.
SEGMENT = "软件发布版本" * 10  # 180 bytes
CJK_FOLDER = (SEGMENT + "/") * 5  # 905 bytes
ASCII_FOLDER = ("a" * 199 + "/") * 5 + "b" * 14 + "/"  # 1,015 bytes


def cjk_key(version: int) -> str:
    """1,006 bytes: `.delta` fits, and the prefix leaves room for references."""
    return f"{CJK_FOLDER}{'应用程序包' * 6}-1.{version}.tar.gz"


def aws_metadata_bytes(meta: dict[str, str]) -> int:
    """User metadata as AWS counts it against its 2 KB: each key and value in UTF-8."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in meta.items())


def stored_objects(backend: Backend) -> list[ObjectInfo]:
    storage = backend.storage()
    found = []
    for entry in storage.list(backend.bucket, ""):
        assert isinstance(entry, ObjectInfo)
        info = storage.head(backend.bucket, entry.key)
        assert info is not None
        found.append(info)
    return found


def assert_within_s3_limits(backend: Backend) -> None:
    objects = stored_objects(backend)
    assert objects
    for info in objects:
        assert len(info.key.encode()) <= KEY_LIMIT, info.key
        assert aws_metadata_bytes(info.metadata) <= METADATA_LIMIT, info.key


def test_gzip_releases_under_a_long_cjk_key(backend: Backend, tmp_path: Path) -> None:
    versions = [sdist(tmp_path / f"pkg-1.{v}.tar.gz", v) for v in range(2)]
    assert len(cjk_key(0).encode()) == 1006

    service = backend.service()
    results = [
        put_file(service, p, ObjectKey(backend.bucket, cjk_key(v))) for v, p in enumerate(versions)
    ]

    assert [r.stored_as for r in results] == [StoredAs.DELTA, StoredAs.DELTA]
    assert results[1].stored_size < results[1].file_size * 0.05  # of the tar inside
    assert_within_s3_limits(backend)
    reader = backend.service()
    for version, path in enumerate(versions):
        reader.get(ObjectKey(backend.bucket, cjk_key(version)), tmp_path / "out.tar.gz")
        assert (tmp_path / "out.tar.gz").read_bytes() == path.read_bytes()


def test_a_1020_byte_key_is_stored_direct(backend: Backend, tmp_path: Path) -> None:
    keys = [ASCII_FOLDER + "x.zip", ASCII_FOLDER + "y.zip"]
    assert len(keys[0].encode()) == 1020  # S3 holds up to 1,024: `.delta` makes 1,026
    artifacts = [release_zip(tmp_path / f"v{v}.zip", v) for v in range(2)]

    service = backend.service()
    results = [
        put_file(service, a, ObjectKey(backend.bucket, k))
        for a, k in zip(artifacts, keys, strict=True)
    ]

    assert {r.stored_as for r in results} == {StoredAs.DIRECT}
    assert_within_s3_limits(backend)
    reader = backend.service()
    listed = reader.list(backend.bucket, ASCII_FOLDER)
    assert [getattr(entry, "key", None) for entry in listed] == keys
    for artifact, key in zip(artifacts, keys, strict=True):
        reader.get(ObjectKey(backend.bucket, key), tmp_path / "out.zip")
        assert (tmp_path / "out.zip").read_bytes() == artifact.read_bytes()


Store = InMemoryStorage | LocalFilesystemStorage


def memory_store(tmp_path: Path) -> Store:
    return InMemoryStorage()


def filesystem_store(tmp_path: Path) -> Store:
    return LocalFilesystemStorage(tmp_path / "root")


@pytest.mark.parametrize("make", [memory_store, filesystem_store], ids=["memory", "file"])
def test_the_local_stores_refuse_what_s3_refuses(
    tmp_path: Path, make: Callable[[Path], Store]
) -> None:
    storage = make(tmp_path)
    storage.create_bucket("bkt")
    source = tmp_path / "data"
    source.write_bytes(b"payload")
    longest = "/".join(["k" * 200] * 5) + "/" + "k" * 19  # 1,024 bytes
    two_kb = {"dg-x": "v" * (METADATA_LIMIT - len("x-amz-meta-dg-x"))}

    with pytest.raises(InvalidKeyError) as long_key:
        storage.upload("bkt", longest + "k", source, {})
    assert (long_key.value.code, long_key.value.status) == ("KeyTooLongError", 400)
    assert (long_key.value.message, long_key.value.operation) == (
        "Your key is too long",
        "PutObject",
    )
    with pytest.raises(StorageError) as too_large:
        storage.upload("bkt", "k", source, two_kb | {"dg-x": two_kb["dg-x"] + "v"})
    assert (too_large.value.code, too_large.value.status) == ("MetadataTooLarge", 400)
    assert too_large.value.message == (
        "Your metadata headers exceed the maximum allowed metadata size"
    )
    assert list(storage.list("bkt", "")) == []
    assert not any(path.is_file() for path in tmp_path.rglob("*") if path != source)

    storage.upload("bkt", longest, source, two_kb)
    info = storage.head("bkt", longest)
    assert info is not None
    assert info.metadata == two_kb


def test_a_name_longer_than_the_filesystem_takes_is_a_bad_key(tmp_path: Path) -> None:
    """A key segment over the 255 bytes a file name can have: refused as a key the
    filesystem backend cannot hold (400 InvalidArgument), absent to a lookup, never an
    OSError (a 500 through the gateway)."""
    (tmp_path / "b").mkdir()
    storage = LocalFilesystemStorage(tmp_path)
    key = "dir/" + "发" * 86  # 258 bytes in one segment, well within S3's 1,024
    with pytest.raises(InvalidKeyError) as caught:
        storage.upload("b", key, b"x", {})
    assert caught.value.status == 400
    assert storage.head("b", key) is None
    storage.delete("b", key)  # nothing there: no error, as on S3
