"""Large objects in parts (adapters/s3_parts.py), on moto and Ceph RGW: downloads in
ranges side by side or streamed, whichever the server serves faster, always one
version's bytes; create-only uploads in parallel parts. Part sizes are lowered (S3Storage
takes them as arguments) so that a few MiB stand for gigabytes."""

from __future__ import annotations

import base64
import hashlib
import random
import zlib
from pathlib import Path

import pytest

from deltaglider.adapters import s3_parts
from deltaglider.adapters.s3 import S3Storage
from deltaglider.core.errors import AlreadyExists, ObjectChanged
from tests.conftest import Backend

PART = 256 * 1024


def small_parts(backend: Backend, ranges_cheap: bool | None = None) -> S3Storage:
    built = backend.storage()
    assert isinstance(built, S3Storage)
    return S3Storage(
        built.client, download_part_size=PART, part_size=5 * 2**20, ranges_cheap=ranges_cheap
    )


@pytest.mark.parametrize(
    "ranges", [None, True, False, "slow"], ids=["measured", "parallel", "streamed", "found slow"]
)
@pytest.mark.parametrize("size", [0, 1, PART - 1, PART, PART + 1, 3 * PART + 5, 37 * PART + 11])
def test_every_size_comes_back_exactly(
    s3_backend: Backend,
    tmp_path: Path,
    size: int,
    ranges: bool | str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`found slow`: every first part's answer counts as slow, as on a server that reads
    the whole object for a range (moto, on large objects): the rest comes in one GET of
    the whole object, its first part read past, and the next download in one GET."""
    if ranges == "slow":
        monkeypatch.setattr(s3_parts, "SLOW_ANSWER", 0.0)
        monkeypatch.setattr(s3_parts, "SCAN_RATE", float("inf"))
    storage = small_parts(s3_backend, None if isinstance(ranges, str) else ranges)
    asked: list[str | None] = []  # each GET's Range header, None for the whole object
    storage.client.meta.events.register(
        "before-call.s3.GetObject", lambda params, **_: asked.append(params["headers"].get("Range"))
    )
    data = random.Random(size).randbytes(size)
    (tmp_path / "up").write_bytes(data)
    storage.upload(s3_backend.bucket, "obj", tmp_path / "up", {})
    for _ in range(2):  # the first large one learns how ranges are served; then as learnt
        storage.download(s3_backend.bucket, "obj", tmp_path / "down")
        assert (tmp_path / "down").read_bytes() == data
    if ranges == "slow" and size > s3_parts.PARALLEL_PARTS * PART:
        assert asked == [f"bytes=0-{PART - 1}", None, None]
    # Hashed as the parts land, in whatever order they do.
    sha256 = storage.download_hashed(s3_backend.bucket, "obj", tmp_path / "hashed")
    assert sha256 == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "hashed").read_bytes() == data


@pytest.mark.parametrize("ranges", [True, False], ids=["parallel", "streamed"])
def test_parts_are_of_the_version_asked_for(
    s3_backend: Backend, tmp_path: Path, ranges: bool
) -> None:
    storage = small_parts(s3_backend, ranges)
    (tmp_path / "v1").write_bytes(random.Random(1).randbytes(20 * PART))
    (tmp_path / "v2").write_bytes(random.Random(2).randbytes(20 * PART))
    first = storage.upload(s3_backend.bucket, "obj", tmp_path / "v1", {})
    storage.upload(s3_backend.bucket, "obj", tmp_path / "v2", {})
    with pytest.raises(ObjectChanged):
        storage.download(s3_backend.bucket, "obj", tmp_path / "down", if_match=first)
    info = storage.head(s3_backend.bucket, "obj")
    assert info is not None
    storage.download(s3_backend.bucket, "obj", tmp_path / "down", if_match=info.etag)
    assert (tmp_path / "down").read_bytes() == (tmp_path / "v2").read_bytes()


def test_create_only_in_parallel_parts(s3_backend: Backend, tmp_path: Path) -> None:
    """Above the multipart threshold a create-only upload goes in parts side by side
    where the server refuses a completion onto an existing key (moto), else as one PUT
    (Ceph RGW 16 completes it anyway); either way it is refused, leaving no upload
    behind, when the key exists."""
    storage = small_parts(s3_backend)
    source = tmp_path / "ref.bin"
    source.write_bytes(random.Random(5).randbytes(17 * 2**20 + 3))  # four parts
    storage.upload(s3_backend.bucket, "ref.bin", source, {"dg-x": "1"}, create_only=True)
    with pytest.raises(AlreadyExists):
        storage.upload(s3_backend.bucket, "ref.bin", source, {}, create_only=True)
    storage.download(s3_backend.bucket, "ref.bin", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == source.read_bytes()
    info = storage.head(s3_backend.bucket, "ref.bin")
    assert info is not None
    assert info.metadata == {"dg-x": "1"}
    pending = storage.client.list_multipart_uploads(Bucket=s3_backend.bucket)
    assert pending.get("Uploads", []) == []


def test_parts_carry_their_crc32_as_aws_s3_cp_sends_them(
    s3_backend: Backend, tmp_path: Path
) -> None:
    """A reference's create-only upload in parts sends each part with its CRC32 and
    lists them in the completion, as s3transfer does for `aws s3 cp`, so the store checks
    every part and keeps their composite checksum (a completion without them has moto
    compute a CRC64 of the whole object in Python). Ceph RGW 16 takes such an upload as
    one PUT and keeps no checksums: there only the bytes are compared."""
    storage = small_parts(s3_backend)
    data = random.Random(6).randbytes(17 * 2**20 + 7)  # four parts of 5 MiB or less
    (tmp_path / "up").write_bytes(data)
    storage.upload(s3_backend.bucket, "obj", tmp_path / "up", {}, create_only=True)
    storage.download(s3_backend.bucket, "obj", tmp_path / "down")
    assert (tmp_path / "down").read_bytes() == data
    head = storage.client.head_object(Bucket=s3_backend.bucket, Key="obj", ChecksumMode="ENABLED")
    if s3_backend.name == "ceph":
        assert "ChecksumCRC64NVME" not in head
        return
    parts = [data[at : at + 5 * 2**20] for at in range(0, len(data), 5 * 2**20)]
    joined = b"".join(zlib.crc32(part).to_bytes(4, "big") for part in parts)
    composite = base64.b64encode(zlib.crc32(joined).to_bytes(4, "big")).decode()
    assert head["ChecksumCRC32"].split("-")[0] == composite  # S3 adds "-4", moto not
