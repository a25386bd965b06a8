"""A large reference on its first use is not downloaded whole: a segmented delta is
decoded from ranged GETs of the stretches it names, each of the reference's version
whose metadata was read (If-Match). Nothing decoded from them is trusted before the
file's own SHA256 matched; a reference changed, removed or not the one recorded sends
the read down the checked way (the reference fetched whole and hashed), which says
what is wrong. On moto and Ceph RGW, with 1 MiB segments and "large" lowered to 1 MiB
so that the files stay small."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import pytest

from deltaglider.adapters import s3_parts
from deltaglider.adapters.s3 import S3Storage
from deltaglider.core import reference_fetch
from deltaglider.core.errors import IntegrityError, ReferenceChanged, ReferenceMissing
from deltaglider.core.metadata import read_delta
from deltaglider.core.models import ObjectKey
from deltaglider.core.service import DeltaService
from tests.conftest import Backend, raw_client
from tests.fakes import put_file

MIB = 1024 * 1024
REFERENCE = "big/reference.bin"


@pytest.fixture(autouse=True)
def large_is_small(s3_backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """(After the backend's fixture, which clears DG_ variables.)"""
    monkeypatch.setenv("DG_SEGMENT_MB", "1")  # segmented above 8 MiB of reference + file
    monkeypatch.setattr(reference_fetch, "CACHED_AT_ONCE_UP_TO", MIB)
    # Both servers count as serving ranges cheaply (moto answers a range of a few MiB
    # quickly anyway; a loaded machine must not make it look slow).
    monkeypatch.setattr(s3_parts, "SLOW_ANSWER", 60.0)


def stored(backend: Backend, tmp_path: Path) -> tuple[bytes, bytes]:
    """Two 6 MiB versions stored, the second a segmented delta of the first (half a
    MiB inserted, runs overwritten)."""
    rng = random.Random(6)
    old = rng.randbytes(6 * MIB)
    new = bytearray(old)
    new[100_000:100_000] = rng.randbytes(MIB // 2)
    for at in (2 * MIB, 4 * MIB):
        new[at : at + 30_000] = rng.randbytes(30_000)
    service = backend.service()
    for name, data in (("app-1.0.bin", old), ("app-1.1.bin", bytes(new))):
        (tmp_path / name).write_bytes(data)
        put_file(service, tmp_path / name, ObjectKey(backend.bucket, f"big/{name}"))
    info = backend.storage().head(backend.bucket, "big/app-1.1.bin.delta")
    assert info is not None
    assert read_delta(info.metadata, info.key).codec == "zstd-segmented"
    return old, bytes(new)


def reference_gets(service: DeltaService, before: Any = None) -> list[tuple[str, str]]:
    """(Range, If-Match) of each GET of the reference the service makes ("" for none);
    `before(range)` runs before each is sent."""
    asked: list[tuple[str, str]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        if params["url_path"].endswith(REFERENCE):
            headers = params["headers"]
            asked.append((headers.get("Range", ""), headers.get("If-Match", "")))
            if before is not None:
                before(headers.get("Range", ""))

    storage = service.storage
    assert isinstance(storage, S3Storage)
    storage.client.meta.events.register("before-call.s3.GetObject", record)
    return asked


def test_a_large_reference_on_first_use_is_read_by_ranges_of_its_version(
    s3_backend: Backend, tmp_path: Path
) -> None:
    old, new = stored(s3_backend, tmp_path)
    reference = s3_backend.storage().head(s3_backend.bucket, REFERENCE)
    assert reference is not None
    reader = s3_backend.service()  # a fresh process's view: nothing cached
    asked = reference_gets(reader)
    out = tmp_path / "down" / "app-1.1.bin"
    reader.get(ObjectKey(s3_backend.bucket, "big/app-1.1.bin"), out)
    assert out.read_bytes() == new
    assert asked[0] == ("bytes=0-0", reference.etag)  # is a range cheap here?
    assert len(asked) > 2  # and the stretches, segment by segment
    for asked_range, version in asked:
        assert asked_range.startswith("bytes=")
        assert version == reference.etag
    ref_sha256 = hashlib.sha256(old).hexdigest()
    assert not reader.references.cache.holds(ref_sha256)  # nothing written whole

    # Used again by this process: fetched whole, checked, and kept in the cache.
    asked.clear()
    again = tmp_path / "again" / "app-1.1.bin"
    reader.get(ObjectKey(s3_backend.bucket, "big/app-1.1.bin"), again)
    assert again.read_bytes() == new
    assert reader.references.cache.holds(ref_sha256)


@pytest.mark.parametrize("change", ["replaced before", "replaced during", "removed during"])
def test_a_reference_not_as_recorded_is_read_whole_and_found_out(
    s3_backend: Backend, tmp_path: Path, change: str
) -> None:
    """Replaced by other bytes under the same metadata (before the read, or after the
    first stretches were read), or removed: the ranged decode fails (its output's
    checks, the next range's If-Match, the key gone); read whole, the reference is
    found changed (or missing), not the delta called damaged, and nothing is written."""
    old, _ = stored(s3_backend, tmp_path)
    client: Any = raw_client(s3_backend.env)
    info = s3_backend.storage().head(s3_backend.bucket, REFERENCE)
    assert info is not None
    damaged = bytearray(old)
    damaged[3 * MIB : 3 * MIB + 16] = bytes(16)
    done: list[str] = []

    def change_it(asked_range: str = "") -> None:
        if asked_range != "bytes=0-0" and not done:  # in a ranged decode, or before
            done.append(asked_range)
            if change.startswith("replaced"):
                client.put_object(
                    Bucket=s3_backend.bucket, Key=REFERENCE, Body=bytes(damaged),
                    Metadata=dict(info.metadata),
                )  # fmt: skip
            else:
                client.delete_object(Bucket=s3_backend.bucket, Key=REFERENCE)

    if change == "replaced before":
        change_it()
    reader = s3_backend.service()
    asked = reference_gets(reader, before=change_it)
    out = tmp_path / "down" / "app-1.1.bin"
    expected = ReferenceChanged if change.startswith("replaced") else ReferenceMissing
    with pytest.raises(expected, match="reference s3://"):
        reader.get(ObjectKey(s3_backend.bucket, "big/app-1.1.bin"), out)
    assert asked[0][0] == "bytes=0-0"  # the ranged decode was begun
    assert done
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # nor its temporary file


def test_a_damaged_delta_decoded_from_ranges_is_called_damaged(
    s3_backend: Backend, tmp_path: Path
) -> None:
    """A byte of a segment's frame flipped: the ranged decode fails its checks; read
    whole and checked, the reference is as recorded, so the delta is what is damaged."""
    stored(s3_backend, tmp_path)
    storage = s3_backend.storage()
    info = storage.head(s3_backend.bucket, "big/app-1.1.bin.delta")
    assert info is not None
    storage.download(s3_backend.bucket, info.key, tmp_path / "delta")
    delta = bytearray((tmp_path / "delta").read_bytes())
    delta[len(delta) // 2] ^= 0xFF
    (tmp_path / "delta").write_bytes(delta)
    storage.upload(s3_backend.bucket, info.key, tmp_path / "delta", info.metadata)

    out = tmp_path / "down" / "app-1.1.bin"
    with pytest.raises(IntegrityError, match=r"damaged|corrupt") as raised:
        s3_backend.service().get(ObjectKey(s3_backend.bucket, "big/app-1.1.bin"), out)
    assert not isinstance(raised.value, (ReferenceChanged, ReferenceMissing))
    assert not out.exists()
