"""References whose bytes compress well are stored as a zstd frame (`dg-encoding: zstd`),
decoded once when fetched, and kept in the cache ready to use; others stay as they are."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from deltaglider.adapters.archive_container import ArchiveContainer
from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.adapters.zstd_codec import ZstdCodec
from deltaglider.core.errors import FormatError, IntegrityError
from deltaglider.core.metadata import read_reference
from deltaglider.core.models import ObjectKey, is_reference_key
from deltaglider.core.service import DeltaService
from tests.artifacts import source_text, wheel
from tests.fakes import make_service, put_file


def service(storage: InMemoryStorage) -> DeltaService:
    made, _, _ = make_service(storage, diff=ZstdCodec(), archive=ArchiveContainer())
    return made


def tarball(path: Path, version: int) -> Path:
    """An uncompressed tar of sources: compresses well."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for index in range(12):
            body = source_text(index, 40_000) + (
                f"v{version}".encode() if index == version else b""
            )
            info = tarfile.TarInfo(f"src/m{index}.py")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    path.write_bytes(buffer.getvalue())
    return path


def reference(storage: InMemoryStorage) -> tuple[str, bytes, dict[str, str]]:
    [(key, stored)] = [(k, o) for k, o in storage.buckets["bucket"].items() if is_reference_key(k)]
    return key, stored.data, stored.metadata


def test_a_reference_that_compresses_well_is_stored_compressed(tmp_path: Path) -> None:
    paths = [tarball(tmp_path / f"src-1.{v}.tar", v) for v in range(3)]
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    results = [put_file(service(storage), p, ObjectKey("bucket", "t/" + p.name)) for p in paths]
    _, data, metadata = reference(storage)
    assert metadata["dg-encoding"] == "zstd"
    assert read_reference(metadata).sha256 == hashlib.sha256(paths[0].read_bytes()).hexdigest()
    assert len(data) < paths[0].stat().st_size / 2
    assert results[0].reference_size == len(data)  # what it took, counted where spent
    reader = service(storage)  # a new process: an empty cache
    for path in paths:
        reader.get(ObjectKey("bucket", "t/" + path.name), tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == path.read_bytes()
    assert storage.calls["head"] >= 1
    digest = read_reference(metadata).sha256
    assert reader.references.cache.fetch(digest, tmp_path / "cached")  # ready to use
    assert (tmp_path / "cached").read_bytes() == paths[0].read_bytes()


def test_a_reference_that_does_not_compress_is_stored_as_it_is(tmp_path: Path) -> None:
    path = wheel(tmp_path / "pkg-1.0-py3-none-any.whl", 0)
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    put_file(service(storage), path, ObjectKey("bucket", "w/" + path.name))
    _, data, metadata = reference(storage)
    assert "dg-encoding" not in metadata
    assert data == path.read_bytes()


def test_a_damaged_compressed_reference_fails_cleanly(tmp_path: Path) -> None:
    paths = [tarball(tmp_path / f"src-1.{v}.tar", v) for v in range(2)]
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    for path in paths:
        put_file(service(storage), path, ObjectKey("bucket", "t/" + path.name))
    key, data, _ = reference(storage)
    storage.buckets["bucket"][key].data = data[:-40] + bytes(40)
    with pytest.raises(IntegrityError, match="reference"):
        service(storage).get(ObjectKey("bucket", "t/" + paths[1].name), tmp_path / "out")
    storage.buckets["bucket"][key].data = data
    storage.buckets["bucket"][key].metadata["dg-encoding"] = "lzma"
    with pytest.raises(FormatError, match="lzma"):
        service(storage).get(ObjectKey("bucket", "t/" + paths[1].name), tmp_path / "out")
    assert not (tmp_path / "out").exists()
