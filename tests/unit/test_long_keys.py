"""Keys near S3's limit (1,024 bytes) through the service: what cannot take `.delta` is
stored direct, and stored objects stay within S3's limits (the in-memory store of
277f75b did not check them, as moto does not; real S3 refuses such a PUT)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from deltaglider.adapters.gzip_container import GzipContainer
from deltaglider.core.errors import InvalidKeyError
from deltaglider.core.models import ObjectKey, StoredAs
from tests.artifacts import release_zip
from tests.fakes import make_service, put_file

KEY_LIMIT = 1024  # S3's, in bytes of UTF-8
METADATA_LIMIT = 2048  # S3's, in bytes of user metadata


def aws_metadata_bytes(meta: dict[str, str]) -> int:
    """User metadata as AWS counts it against its 2 KB: each key and value in UTF-8."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in meta.items())


@pytest.mark.parametrize(
    "key",
    [
        "rel/" + "x" * 1012 + ".zip",  # 1,020 bytes: `.delta` would make 1,026
        "b" * 1011 + "/x.zip",  # `.delta` fits, but the prefix leaves no room for references
    ],
    ids=["delta-key-too-long", "no-room-for-references"],
)
def test_a_key_that_cannot_take_the_delta_suffix_is_stored_direct(tmp_path: Path, key: str) -> None:
    assert len(key.encode()) in (1020, 1017)
    service, storage, _ = make_service()
    artifact = release_zip(tmp_path / "x.zip", 1)

    result = put_file(service, artifact, ObjectKey("bucket", key))

    assert (result.stored_as, result.stored_key) == (StoredAs.DIRECT, key)
    assert all(len(k.encode()) <= KEY_LIMIT for k in storage.buckets["bucket"])
    make_service(storage)[0].get(ObjectKey("bucket", key), tmp_path / "out.zip")
    assert (tmp_path / "out.zip").read_bytes() == artifact.read_bytes()


def test_a_reserved_name_that_cannot_take_the_suffix_is_refused(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    artifact = release_zip(tmp_path / "reference.bin", 1)
    key = "c" * 1015 + "/reference.bin"  # as `reference.bin.delta` it would be 1,035 bytes

    with pytest.raises(InvalidKeyError, match="key too long for DeltaGlider to store this name"):
        put_file(service, artifact, ObjectKey("bucket", key))
    assert storage.buckets["bucket"] == {}


def gzip_with_long_header(path: Path, version: int) -> Path:
    """A gzip stream whose 1,024-byte header (a long FNAME) fills the largest recipe."""
    lines = (f"line {i} of version {version if i == 700 else 0}\n" for i in range(20_000))
    buffer = io.BytesIO()
    with gzip.GzipFile("n" * 1013, "wb", 9, buffer, mtime=0) as stream:
        stream.write("".join(lines).encode())
    path.write_bytes(buffer.getvalue())
    return path


def test_a_recipe_that_cannot_fit_gives_a_raw_delta(tmp_path: Path) -> None:
    """Only a writer recording an unusually long tool name leaves a recipe no room."""
    service, storage, _ = make_service(
        containers={"gzip": GzipContainer()}, tool="deltaglider/" + "0" * 150
    )
    paths = [gzip_with_long_header(tmp_path / f"pkg-{v}.tar.gz", v) for v in range(2)]
    results = [put_file(service, p, ObjectKey("bucket", f"rel/{p.name}")) for p in paths]

    for result in results:
        meta = storage.buckets["bucket"][result.stored_key].metadata
        assert result.stored_as is StoredAs.DELTA
        assert "dg-container" not in meta
        assert aws_metadata_bytes(meta) <= METADATA_LIMIT
    reader, _, _ = make_service(storage, containers={"gzip": GzipContainer()})
    for path in paths:
        reader.get(ObjectKey("bucket", f"rel/{path.name}"), tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == path.read_bytes()
