"""DeltaService.describe: how a logical object is stored, without rebuilding it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from deltaglider.core.errors import ObjectNotFound
from deltaglider.core.models import ObjectKey, StoredAs
from tests.artifacts import release_zip
from tests.fakes import make_service, put_file


def test_a_delta_names_its_reference_and_codec(tmp_path: Path) -> None:
    service, _, codec = make_service()
    for version in (1, 2):
        artifact = release_zip(tmp_path / f"app-{version}.zip", version)
        put_file(service, artifact, ObjectKey("bucket", f"rel/app-{version}.zip"))
    decoded = codec.decoded

    found = service.describe(ObjectKey("bucket", "rel/app-2.zip"))

    data = (tmp_path / "app-2.zip").read_bytes()
    assert found.logical.stored_as is StoredAs.DELTA
    assert found.logical.stored_key == "rel/app-2.zip.delta"
    assert found.logical.size == len(data)
    assert found.logical.etag == f'"{hashlib.md5(data).hexdigest()}"'
    assert found.sha256 == hashlib.sha256(data).hexdigest()
    assert found.reference == "rel/reference.bin"
    assert found.codec == "zlib-dict"
    assert codec.decoded == decoded  # nothing was rebuilt


def test_an_object_stored_whole_has_no_reference(tmp_path: Path) -> None:
    service, _, _ = make_service()
    service.put(ObjectKey("bucket", "notes.txt"), [b"hello"], content_type="text/plain")

    found = service.describe(ObjectKey("bucket", "notes.txt"))

    assert found.logical.stored_as is StoredAs.DIRECT
    assert found.logical.content_type == "text/plain"
    assert found.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert (found.reference, found.codec) == (None, None)


def test_internal_objects_are_not_described(tmp_path: Path) -> None:
    service, _, _ = make_service()
    put_file(service, release_zip(tmp_path / "a.zip", 1), ObjectKey("bucket", "rel/a.zip"))
    with pytest.raises(ObjectNotFound):
        service.describe(ObjectKey("bucket", "rel/reference.bin"))
