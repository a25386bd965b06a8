"""The zstd adapter on real files: exact round trips, and damage that never decodes quietly."""

from __future__ import annotations

import itertools
import random
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaglider.adapters.zstd_codec import ZstdCodec
from deltaglider.core.errors import DiffError
from tests.integration.test_corpus import corpus_dir, version_order

if sys.version_info >= (3, 14):
    from compression.zstd import get_frame_info, get_frame_size
else:
    from backports.zstd import get_frame_info, get_frame_size


def encode(tmp_path: Path, source: bytes, target: bytes, level: int = 3) -> bytes:
    (tmp_path / "src").write_bytes(source)
    (tmp_path / "tgt").write_bytes(target)
    ZstdCodec(level).encode(tmp_path / "src", tmp_path / "tgt", tmp_path / "delta")
    return (tmp_path / "delta").read_bytes()


def decode(tmp_path: Path, delta: bytes, source: bytes | None = None) -> bytes:
    if source is not None:
        (tmp_path / "src").write_bytes(source)
    (tmp_path / "delta").write_bytes(delta)
    ZstdCodec().decode(tmp_path / "src", tmp_path / "delta", tmp_path / "out")
    return (tmp_path / "out").read_bytes()


def mutate(data: bytes, seed: int) -> bytes:
    """Insertions, deletions and a moved block, as between two builds."""
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(20):
        at = rng.randrange(len(out))
        out[at:at] = rng.randbytes(rng.randrange(1, 200))
        at = rng.randrange(len(out))
        del out[at : at + rng.randrange(1, 200)]
    start = rng.randrange(len(out) // 2)
    block = out[start : start + len(out) // 10]
    del out[start : start + len(block)]
    out[len(out) - 1000 : len(out) - 1000] = block
    return bytes(out)


@pytest.mark.parametrize("level", [1, 3, 19])
def test_mutated_data_round_trips_with_a_small_delta(tmp_path: Path, level: int) -> None:
    source = random.Random(1).randbytes(1_000_000)
    target = mutate(source, seed=2)
    delta = encode(tmp_path, source, target, level)
    assert decode(tmp_path, delta) == target
    assert len(delta) < 12_000


def test_blocks_moved_across_a_large_source_are_found(tmp_path: Path) -> None:
    """Far beyond the level's default window: the window and long matching span both."""
    source = random.Random(3).randbytes(8 * 1024 * 1024)
    target = source[5_000_000:] + b"joint" + source[:5_000_000]
    delta = encode(tmp_path, source, target)
    assert decode(tmp_path, delta) == target
    assert len(delta) < 2_000


def test_the_delta_is_one_frame_that_records_the_target_size(tmp_path: Path) -> None:
    source = random.Random(4).randbytes(200_000)
    target = mutate(source, seed=5)
    delta = encode(tmp_path, source, target)
    assert get_frame_size(delta) == len(delta)
    assert get_frame_info(delta).decompressed_size == len(target)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (b"", b""),
        (b"", b"only target" * 100),
        (b"only source" * 100, b""),
        (b"short", b"shorter than a zstd dictionary may be"),
        (b"same" * 100_000, b"same" * 100_000),
        (bytes(range(256)) * 100, bytes(reversed(range(256))) * 100),
        (b"\x37\xa4\x30\xec" + bytes(1000), b"\x37\xa4\x30\xec" + bytes(999) + b"!"),
    ],
    ids=[
        "both-empty",
        "empty-source",
        "empty-target",
        "tiny-source",
        "identical",
        "unrelated",
        "source-looks-like-a-zstd-dictionary",
    ],
)
def test_edge_cases_round_trip(tmp_path: Path, source: bytes, target: bytes) -> None:
    assert decode(tmp_path, encode(tmp_path, source, target)) == target


def test_a_large_target_from_a_tiny_delta(tmp_path: Path) -> None:
    source = random.Random(6).randbytes(4 * 1024 * 1024)
    target = source * 3
    delta = encode(tmp_path, source, target)
    assert len(delta) < 4_000  # a few bytes per 128 KiB block
    assert decode(tmp_path, delta) == target


@pytest.fixture
def delta(tmp_path: Path) -> bytes:
    source = random.Random(7).randbytes(300_000)
    return encode(tmp_path, source, mutate(source, seed=8))


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[: len(d) // 2] + bytes([d[len(d) // 2] ^ 0xFF]) + d[len(d) // 2 + 1 :],
        lambda d: d[:100] + bytes(50) + d[150:],
        lambda d: b"",
        lambda d: d[:3],
        lambda d: d[: len(d) // 2],
        lambda d: d[:-1],
        lambda d: d + b"garbage",
        lambda d: d + d,
    ],
    ids=[
        "flipped-byte",
        "zeroed-run",
        "empty",
        "header-only",
        "half",
        "last-byte-missing",
        "trailing-garbage",
        "second-frame",
    ],
)
def test_damaged_delta_is_a_diff_error(
    tmp_path: Path, delta: bytes, damage: Callable[[bytes], bytes]
) -> None:
    with pytest.raises(DiffError, match="zstd decode failed"):
        decode(tmp_path, damage(delta))


def test_intact_delta_decodes(tmp_path: Path, delta: bytes) -> None:
    assert decode(tmp_path, delta) == (tmp_path / "tgt").read_bytes()


@pytest.mark.parametrize(
    "wrong",
    [
        lambda s: random.Random(9).randbytes(len(s)),
        lambda s: s[:150_000] + bytes([s[150_000] ^ 1]) + s[150_001:],
        lambda s: s[: len(s) // 2],
        lambda s: b"",
    ],
    ids=["other-bytes", "one-byte-changed", "shorter", "empty"],
)
def test_wrong_source_is_a_diff_error(tmp_path: Path, wrong: Callable[[bytes], bytes]) -> None:
    """The frame's checksum covers the rebuilt target, so no other source passes."""
    source = random.Random(10).randbytes(300_000)
    delta = encode(tmp_path, source, mutate(source, seed=11))
    with pytest.raises(DiffError, match="zstd decode failed"):
        decode(tmp_path, delta, source=wrong(source))


def test_missing_files_are_diff_errors(tmp_path: Path) -> None:
    codec = ZstdCodec()
    (tmp_path / "a").write_bytes(b"a" * 100)
    with pytest.raises(DiffError, match="zstd encode failed: No such file"):
        codec.encode(tmp_path / "a", tmp_path / "missing", tmp_path / "d")
    with pytest.raises(DiffError, match="zstd decode failed: No such file"):
        codec.decode(tmp_path / "missing", tmp_path / "a", tmp_path / "out")


def test_level_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="zstd level"):
        ZstdCodec(level=23)


@pytest.mark.corpus
def test_consecutive_pip_wheels_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted((corpus_dir() / "pip-wheels").glob("*.whl"), key=version_order)
    assert len(files) >= 2, "corpus series pip-wheels is incomplete"
    codec = ZstdCodec()
    total = 0
    for old, new in itertools.pairwise(files):
        codec.encode(old, new, tmp_path / "delta")
        codec.decode(old, tmp_path / "delta", tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == new.read_bytes(), new.name
        total += (tmp_path / "delta").stat().st_size
    with capsys.disabled():
        logical = sum(f.stat().st_size for f in files[1:])
        print(f"\n[corpus] zstd pip-wheels {len(files) - 1} deltas: {total:,} of {logical:,} B")


def test_without_a_source_the_window_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reference stored compressed (no source) gets a window of PLAIN_WINDOW_LOG, not
    one as large as the file, so decoding it needs no buffer of the file's size."""
    from deltaglider.adapters import zstd_codec

    monkeypatch.setattr(zstd_codec, "PLAIN_WINDOW_LOG", 20)
    target = random.Random(8).randbytes(3 * 1024 * 1024)
    frame = encode(tmp_path, b"", target)
    descriptor = frame[4]
    assert not descriptor & 0x20  # not a single segment: the header names a window
    assert (frame[5] >> 3) + 10 == 20  # Window_Descriptor's exponent: 1 MiB
    assert decode(tmp_path, frame, b"") == target
