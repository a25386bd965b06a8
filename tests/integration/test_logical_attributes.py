"""HEAD, GET and LIST agree on what S3 clients check: size, ETag, last-modified (and HEAD
and GET on Content-Type and user metadata), for every way an object can be stored.

On every backend: a release series stored as deltas (its first file is the reference,
its own `.delta` a tiny self-delta), a text file stored whole with a Content-Type and
user metadata (one of its keys starting with `dg-`), a user file named `.dg-index.json`
(stored whole at `.dg-index.json.delta`), and a 17 MiB file stored whole (a multipart
upload on S3, so its stored ETag is not its MD5). Checked from a fresh process with the
listing indexes in place, and again with them gone.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from deltaglider.core.errors import BadDigest, IncompleteBody, InvalidRange
from deltaglider.core.models import ByteRange, LogicalObject, ObjectKey
from deltaglider.core.service import DeltaService
from tests.artifacts import random_file, release_zip
from tests.conftest import Backend


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


@pytest.fixture
def stored(backend: Backend, tmp_path: Path) -> dict[str, bytes]:
    service = backend.service()
    contents: dict[str, bytes] = {}
    for version in range(3):
        path = release_zip(tmp_path / f"app-1.{version}.zip", version)
        contents[f"rel/{path.name}"] = path.read_bytes()
    contents["rel/NOTES.txt"] = b"release notes\n" * 100
    contents["rel/.dg-index.json"] = b'{"a": 1}\n'
    contents["rel/image.bin"] = random_file(tmp_path / "image.bin", 17 * 1024 * 1024).read_bytes()
    for key, data in contents.items():
        extra: dict[str, object] = {}
        if key.endswith(".txt"):
            extra = {
                "content_type": "text/plain; charset=utf-8",
                "user_metadata": {"build": "1234", "dg-origin": "ci"},
            }
        service.put(
            ObjectKey(backend.bucket, key),
            io.BytesIO(data),
            no_delta=key.endswith(".bin"),
            **extra,  # type: ignore[arg-type]
        )
    return contents


def check_agreement(service: DeltaService, bucket: str, contents: dict[str, bytes]) -> None:
    listed = {
        entry.key: entry
        for entry in service.list(bucket, "rel/", recursive=True)
        if isinstance(entry, LogicalObject)
    }
    assert set(listed) == set(contents)
    for key, data in contents.items():
        head = service.head(ObjectKey(bucket, key))
        with service.open(ObjectKey(bucket, key)) as stream:
            got = stream.info
            body = stream.read()
        assert body == data, key
        for seen in (listed[key], head, got):
            assert (seen.size, seen.etag, seen.last_modified) == (
                len(data),
                md5_etag(data),
                head.last_modified,
            ), (key, seen)
        assert (got.content_type, got.user_metadata) == (head.content_type, head.user_metadata)
    notes = service.head(ObjectKey(bucket, "rel/NOTES.txt"))
    assert notes.content_type == "text/plain; charset=utf-8"
    assert notes.user_metadata == {"build": "1234", "dg-origin": "ci"}


def test_head_get_and_list_agree(backend: Backend, stored: dict[str, bytes]) -> None:
    check_agreement(backend.service(), backend.bucket, stored)


def test_they_agree_without_the_listing_indexes(backend: Backend, stored: dict[str, bytes]) -> None:
    storage = backend.storage()
    storage.delete(backend.bucket, "rel/.dg-index.json")  # ours, not the user's `.delta`
    check_agreement(backend.service(), backend.bucket, stored)


def test_byte_ranges_come_from_the_checked_object(
    backend: Backend, stored: dict[str, bytes]
) -> None:
    service = backend.service()
    key = ObjectKey(backend.bucket, "rel/app-1.2.zip")
    data = stored[key.key]
    for wanted, expected in [
        (ByteRange(0, 99), data[:100]),
        (ByteRange(100, None), data[100:]),
        (ByteRange(suffix=50), data[-50:]),
        (ByteRange(10, 10**9), data[10:]),
    ]:
        with service.open(key, byte_range=wanted) as stream:
            assert stream.read() == expected
            assert stream.content_length == len(expected)
            assert stream.info.size == len(data)
    with pytest.raises(InvalidRange), service.open(key, byte_range=ByteRange(len(data), None)):
        pass


def test_a_body_is_checked_before_anything_is_stored(backend: Backend) -> None:
    service = backend.service()
    key = ObjectKey(backend.bucket, "rel/checked.zip")
    with pytest.raises(BadDigest):
        service.put(key, io.BytesIO(b"x" * 5000), content_md5="AAAAAAAAAAAAAAAAAAAAAA==")
    with pytest.raises(IncompleteBody):
        service.put(key, iter([b"x" * 4000]), size=5000)
    assert not list(backend.storage().list(backend.bucket, "rel/"))
