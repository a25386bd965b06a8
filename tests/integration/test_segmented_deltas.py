"""Large files through the service: `zstd-segmented` deltas above the threshold
(DG_SEGMENT_MB small here so the files stay small), exact round trips on every backend;
whole-file `zstd` deltas still read; a reader without the codec refuses clearly."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest

from deltaglider.adapters.cache_fs import FilesystemCache
from deltaglider.adapters.clock import UtcClock
from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.adapters.metrics import NoopMetrics
from deltaglider.adapters.sha256 import Sha256Hasher
from deltaglider.adapters.zstd_codec import ZstdCodec
from deltaglider.adapters.zstd_segments import SegmentedZstdCodec
from deltaglider.core.errors import FormatError, ReferenceChanged
from deltaglider.core.metadata import read_delta
from deltaglider.core.models import ObjectKey, StoredAs
from deltaglider.core.policy import DeltaPolicy
from deltaglider.core.service import DeltaService
from deltaglider.ports import DiffPort
from tests.barrier import run_at_once
from tests.conftest import Backend
from tests.fakes import put_file

MIB = 1024 * 1024


def versions(tmp_path: Path) -> tuple[Path, Path]:
    """A 24 MiB artifact and its next version: 1 MiB inserted near the start, a 2 MiB
    block moved, a few runs overwritten."""
    rng = random.Random(1)
    old = rng.randbytes(24 * MIB)
    new = bytearray(old)
    new[300_000:300_000] = rng.randbytes(MIB)
    block = new[5 * MIB : 7 * MIB]
    del new[5 * MIB : 7 * MIB]
    new[18 * MIB : 18 * MIB] = block
    for at in (9 * MIB, 13 * MIB, 21 * MIB):
        new[at : at + 65536] = rng.randbytes(65536)
    (tmp_path / "app-1.0.bin").write_bytes(old)
    (tmp_path / "app-1.1.bin").write_bytes(new)
    return tmp_path / "app-1.0.bin", tmp_path / "app-1.1.bin"


def codec_of(backend: Backend, key: str) -> str:
    info = backend.storage().head(backend.bucket, key)
    assert info is not None
    return read_delta(info.metadata, info.key).codec


def test_large_file_round_trips_as_a_segmented_delta(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DG_SEGMENT_MB", "1")  # segmented above 8 MiB of reference + file
    old, new = versions(tmp_path)
    service = backend.service()
    put_file(service, old, ObjectKey(backend.bucket, f"big/{old.name}"))
    result = put_file(service, new, ObjectKey(backend.bucket, f"big/{new.name}"))
    assert result.stored_as is StoredAs.DELTA
    assert result.stored_size < 1.4 * MIB  # the 1.19 MiB of new bytes, and little more
    assert codec_of(backend, f"big/{new.name}.delta") == "zstd-segmented"
    own = backend.storage().head(backend.bucket, f"big/{old.name}.delta")
    assert own is not None
    assert own.size == 0  # the reference's own delta: read as the reference

    reader = backend.service()  # a fresh process's view: nothing cached
    for path in (old, new):
        out = tmp_path / "down" / path.name
        reader.get(ObjectKey(backend.bucket, f"big/{path.name}"), out)
        assert out.read_bytes() == path.read_bytes()


def test_a_reference_changed_under_a_following_decode_fails_as_changed_and_writes_nothing(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decode of a segmented delta reads its reference as it downloads, before its
    SHA256 can be checked. A reference whose bytes are no longer the ones recorded (same
    size, a few bytes flipped where a segment reads them) fails as that, not as a
    damaged delta, and the destination never appears."""
    monkeypatch.setenv("DG_SEGMENT_MB", "1")
    old, new = versions(tmp_path)
    service = backend.service()
    put_file(service, old, ObjectKey(backend.bucket, f"big/{old.name}"))
    put_file(service, new, ObjectKey(backend.bucket, f"big/{new.name}"))
    storage = backend.storage()
    info = storage.head(backend.bucket, "big/reference.bin")
    assert info is not None
    damaged = bytearray(old.read_bytes())
    damaged[12 * MIB : 12 * MIB + 16] = bytes(16)
    (tmp_path / "damaged").write_bytes(damaged)
    storage.upload(backend.bucket, "big/reference.bin", tmp_path / "damaged", info.metadata)

    out = tmp_path / "down" / new.name
    with pytest.raises(ReferenceChanged, match="reference s3://"):
        backend.service().get(ObjectKey(backend.bucket, f"big/{new.name}"), out)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # nor its temporary file


def test_processes_reading_one_segmented_delta_and_its_reference_at_once_all_get_exact_bytes(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three `deltaglider cp` processes released at one moment: two download the second
    version (each decodes it following its own download of the reference, in its own
    scratch), one the reference's own object. Nothing is shared but the store; each
    file comes out exact."""
    monkeypatch.setenv("DG_SEGMENT_MB", "1")
    old, new = versions(tmp_path)
    service = backend.service()
    put_file(service, old, ObjectKey(backend.bucket, f"big/{old.name}"))
    put_file(service, new, ObjectKey(backend.bucket, f"big/{new.name}"))
    assert codec_of(backend, f"big/{new.name}.delta") == "zstd-segmented"

    wanted = {tmp_path / "out-1": new, tmp_path / "out-2": new, tmp_path / "out-3": old}
    commands = [
        ["cp", f"s3://{backend.bucket}/big/{source.name}", str(out), "--no-progress"]
        for out, source in wanted.items()
    ]
    env = backend.subprocess_env() | {"DG_SEGMENT_MB": "1"}
    for done in run_at_once(commands, env, tmp_path):
        assert done.returncode == 0, done.stderr
    for out, source in wanted.items():
        assert out.read_bytes() == source.read_bytes(), out.name


def test_whole_file_zstd_deltas_of_large_files_still_read(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DG_SEGMENT_MB", "64")  # as before: whole-file zstd up to 512 MiB
    old, new = versions(tmp_path)
    writer = backend.service()
    put_file(writer, old, ObjectKey(backend.bucket, f"old/{old.name}"))
    put_file(writer, new, ObjectKey(backend.bucket, f"old/{new.name}"))
    assert codec_of(backend, f"old/{new.name}.delta") == "zstd"

    monkeypatch.setenv("DG_SEGMENT_MB", "1")  # a reader that would segment these sizes
    out = tmp_path / "down" / new.name
    backend.service().get(ObjectKey(backend.bucket, f"old/{new.name}"), out)
    assert out.read_bytes() == new.read_bytes()


def service_over(storage: InMemoryStorage, codecs: dict[str, DiffPort]) -> DeltaService:
    return DeltaService(
        storage=storage,
        buckets=storage,
        diff=codecs["zstd"],
        codecs=codecs,
        hasher=Sha256Hasher(),
        cache=FilesystemCache(),
        clock=UtcClock(),
        logger=logging.getLogger("deltaglider.test"),
        metrics=NoopMetrics(),
        policy=DeltaPolicy(segmented_above=4 * MIB),
        tool="deltaglider/test",
    )


def test_reader_without_the_segmented_codec_refuses_clearly(tmp_path: Path) -> None:
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    both: dict[str, DiffPort] = {
        "zstd": ZstdCodec(),
        "zstd-segmented": SegmentedZstdCodec(segment=MIB),
    }
    old, new = versions(tmp_path)
    writer = service_over(storage, both)
    put_file(writer, old, ObjectKey("bucket", old.name))
    put_file(writer, new, ObjectKey("bucket", new.name))

    older = service_over(storage, {"zstd": ZstdCodec()})
    with pytest.raises(FormatError, match="unknown codec 'zstd-segmented'"):
        older.get(ObjectKey("bucket", new.name), tmp_path / "out")
    assert not (tmp_path / "out").exists()
