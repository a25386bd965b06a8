"""DeltaService wired as in production (real xdelta3) over every backend."""

from __future__ import annotations

import gzip
import hashlib
import random
import zlib
from pathlib import Path

import pytest

from deltaglider.core.metadata import read_delta
from deltaglider.core.models import LogicalObject, ObjectKey, StoredAs
from tests.artifacts import random_file, release_zip, sdist
from tests.conftest import Backend
from tests.fakes import collect, put_file


def test_release_series_round_trips(backend: Backend, tmp_path: Path) -> None:
    service = backend.service()
    versions = [
        release_zip(tmp_path / f"app-1.{v}.zip", v, files=12, file_size=40_000) for v in range(5)
    ]
    results = [put_file(service, p, ObjectKey(backend.bucket, f"rel/{p.name}")) for p in versions]

    assert all(r.stored_as is StoredAs.DELTA for r in results)
    assert results[0].created_reference
    assert all(r.stored_size < r.file_size / 20 for r in results[1:])

    reader = backend.service()  # a fresh process's view: nothing cached
    for path in versions:
        out = tmp_path / "down" / path.name
        reader.get(ObjectKey(backend.bucket, f"rel/{path.name}"), out)
        assert out.read_bytes() == path.read_bytes()
        assert reader.verify(ObjectKey(backend.bucket, f"rel/{path.name}")).ok


def test_gzip_artifacts_round_trip_exactly(backend: Backend, tmp_path: Path) -> None:
    service = backend.service()
    payload = random.Random(5).randbytes(200_000)
    paths = []
    for v, level in enumerate((9, 6, 1)):
        path = tmp_path / f"pkg-{v}.tar.gz"
        path.write_bytes(gzip.compress(payload + f"v{v}".encode(), compresslevel=level, mtime=0))
        paths.append(path)
        put_file(service, path, ObjectKey(backend.bucket, f"gz/{path.name}"))
    for path in paths:
        out = tmp_path / "out" / path.name
        service.get(ObjectKey(backend.bucket, f"gz/{path.name}"), out)
        assert out.read_bytes() == path.read_bytes()


def test_unrelated_content_becomes_a_new_reference(backend: Backend, tmp_path: Path) -> None:
    service = backend.service()
    first = random_file(tmp_path / "a.bin", 100_000, seed=1)
    put_file(service, first, ObjectKey(backend.bucket, "a.bin"))
    other = random_file(tmp_path / "b.bin", 100_000, seed=2)
    result = put_file(service, other, ObjectKey(backend.bucket, "b.bin"))
    assert (result.stored_as, result.reason) == (StoredAs.DELTA, "new reference")
    # its bytes, as a reference, and its delta against itself
    assert result.reference_size == 100_000
    assert result.stored_size - result.reference_size < 1_000
    storage = backend.storage()
    references = [k.key for k in storage.list(backend.bucket, "reference") if k.size == 100_000]
    assert len(references) == 2
    for path in (first, other):
        backend.service().get(ObjectKey(backend.bucket, path.name), tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == path.read_bytes()


def test_unrelated_content_is_stored_direct_with_the_first_file_policy(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DG_REFERENCE_POLICY", "first")
    service = backend.service()
    put_file(
        service,
        random_file(tmp_path / "a.bin", 100_000, seed=1),
        ObjectKey(backend.bucket, "a.bin"),
    )
    other = random_file(tmp_path / "b.bin", 100_000, seed=2)
    result = put_file(service, other, ObjectKey(backend.bucket, "b.bin"))
    assert result.stored_as is StoredAs.DIRECT
    info = backend.storage().head(backend.bucket, "b.bin")
    assert info is not None
    assert info.size == 100_000
    assert info.metadata["dg-file-sha256"] == hashlib.sha256(other.read_bytes()).hexdigest()


def test_logical_listing_over_the_backend(backend: Backend, tmp_path: Path) -> None:
    service = backend.service()
    for v in range(3):
        put_file(
            service,
            release_zip(tmp_path / f"v{v}.zip", v),
            ObjectKey(backend.bucket, f"p/v{v}.zip"),
        )
    listed = [e for e in service.list(backend.bucket, "p/") if isinstance(e, LogicalObject)]
    assert [(e.key, e.size) for e in listed] == [
        (f"p/v{v}.zip", (tmp_path / f"v{v}.zip").stat().st_size) for v in range(3)
    ]
    for v in range(3):
        service.delete(ObjectKey(backend.bucket, f"p/v{v}.zip"))
    assert [item.key for item in collect(service, backend.bucket).removed] == ["p/reference.bin"]
    assert list(backend.storage().list(backend.bucket, "")) == []


def test_gzip_files_delta_their_content_and_rebuild_exactly(
    backend: Backend, tmp_path: Path
) -> None:
    service = backend.service()
    versions = [sdist(tmp_path / f"pkg-1.{v}.tar.gz", v) for v in range(4)]
    results = [put_file(service, p, ObjectKey(backend.bucket, f"s/{p.name}")) for p in versions]

    storage = backend.storage()
    for result in results:
        info = storage.head(backend.bucket, result.stored_key)
        assert info is not None
        # the first is the reference's own delta, of its raw bytes
        expected = "archive" if result is not results[0] else None
        assert read_delta(info.metadata, info.key).container == expected
    # Raw deltas of gzip streams are near the file's size; these are of the tar inside.
    assert all(r.stored_size < r.file_size * 0.05 for r in results[1:])
    reader = backend.service()
    for path in versions:
        reader.get(ObjectKey(backend.bucket, f"s/{path.name}"), tmp_path / "out" / path.name)
        assert (tmp_path / "out" / path.name).read_bytes() == path.read_bytes()


def test_gzip_files_that_cannot_be_rebuilt_get_raw_deltas(backend: Backend, tmp_path: Path) -> None:
    """A stream zlib does not reproduce (here: deflate blocks flushed at odd points, as
    other compressors do) is stored by a delta of its raw bytes, and still exact."""
    service = backend.service()
    paths = []
    for version in range(2):
        data = sdist(tmp_path / "plain.tar.gz", version).read_bytes()
        inner = zlib.decompress(data, 31)
        packer = zlib.compressobj(6, zlib.DEFLATED, 31)
        odd = b"".join(
            packer.compress(inner[i : i + 777]) + packer.flush(zlib.Z_FULL_FLUSH)
            for i in range(0, len(inner), 777)
        )
        path = tmp_path / f"odd-{version}.tgz"
        path.write_bytes(odd + packer.flush())
        paths.append(path)
    results = [put_file(service, p, ObjectKey(backend.bucket, f"o/{p.name}")) for p in paths]
    storage = backend.storage()
    for result in results:
        info = storage.head(backend.bucket, result.stored_key)
        assert info is not None
        assert read_delta(info.metadata, info.key).container is None
    for path in paths:
        backend.service().get(ObjectKey(backend.bucket, f"o/{path.name}"), tmp_path / "o.out")
        assert (tmp_path / "o.out").read_bytes() == path.read_bytes()
