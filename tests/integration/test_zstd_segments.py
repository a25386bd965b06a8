"""The segmented zstd codec on real files: exact round trips whatever moved, a delta as
small as the whole-file codec's, and damage that never decodes quietly."""

from __future__ import annotations

import hashlib
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from deltaglider.adapters.zstd_codec import ZstdCodec
from deltaglider.adapters.zstd_segments import MAGIC, SegmentedZstdCodec, read_varint
from deltaglider.core.errors import DiffError
from deltaglider.core.trailing import Unwritten, WrittenPrefix

MIB = 1024 * 1024
SEGMENT = MIB  # a 3 MiB file in 3 segments


def files(tmp_path: Path, source: bytes, target: bytes) -> tuple[Path, Path]:
    (tmp_path / "src").write_bytes(source)
    (tmp_path / "tgt").write_bytes(target)
    return tmp_path / "src", tmp_path / "tgt"


def round_trip(tmp_path: Path, source: bytes, target: bytes) -> int:
    """Encode, decode and hash-decode; the delta's size."""
    codec = SegmentedZstdCodec(segment=SEGMENT)
    src, tgt = files(tmp_path, source, target)
    codec.encode(src, tgt, tmp_path / "delta")
    codec.decode(src, tmp_path / "delta", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == target
    expected = hashlib.sha256(target).hexdigest()
    assert codec.decoded_sha256(src, tmp_path / "delta") == expected
    # segments decoded in threads, handed on in order, hashed aside as they are written
    (tmp_path / "out").unlink()
    assert codec.decode_hashed(src, tmp_path / "delta", tmp_path / "out") == expected
    assert (tmp_path / "out").read_bytes() == target
    assert following(tmp_path, codec, source, tmp_path / "delta") == expected
    assert (tmp_path / "out").read_bytes() == target
    return (tmp_path / "delta").stat().st_size


def following(tmp_path: Path, codec: SegmentedZstdCodec, source: bytes, delta: Path) -> str:
    """`decode_following` against a source written while it decodes, as a download's
    parts land: the file made full-size first (zeros past what is written), its 64 KiB
    ranges written in a shuffled order, slowly. A byte read before it was written would
    be a zero, and a wrong file."""
    landing = tmp_path / "landing"
    ranges = [(at, min(at + 65536, len(source))) for at in range(0, len(source), 65536)]
    random.Random(len(source)).shuffle(ranges)
    prefix = WrittenPrefix()
    with landing.open("wb") as out:
        out.truncate(len(source))

    def write() -> None:
        with landing.open("r+b") as out:
            for count, (start, end) in enumerate(ranges):
                os.pwrite(out.fileno(), source[start:end], start)
                prefix.written(start, end)
                if count % 8 == 0:
                    time.sleep(0.001)
        prefix.finished(len(source))

    with ThreadPoolExecutor(1) as writer:
        writing = writer.submit(write)
        digest = codec.decode_following(landing, delta, tmp_path / "out", prefix.wait_for)
        writing.result()
    return digest


def edited(source: bytes, seed: int) -> bytes:
    """An insertion that shifts everything after it, a deletion, overwritten runs and
    a block moved far away, as between two builds of a large artifact."""
    rng = random.Random(seed)
    out = bytearray(source)
    out[100_000:100_000] = rng.randbytes(50_000)
    del out[600_000:650_000]
    for at in (900_000, 1_500_000):
        out[at : at + 4096] = rng.randbytes(4096)
    block = out[300_000:500_000]
    del out[300_000:500_000]
    out[1_800_000:1_800_000] = block
    return bytes(out)


def test_edits_round_trip_with_a_delta_as_small_as_the_whole_file_codecs(
    tmp_path: Path,
) -> None:
    source = random.Random(1).randbytes(3 * MIB)
    target = edited(source, 2)
    size = round_trip(tmp_path, source, target)
    ZstdCodec().encode(tmp_path / "src", tmp_path / "tgt", tmp_path / "whole")
    whole = (tmp_path / "whole").stat().st_size
    assert size <= 1.1 * whole
    assert size < 70_000  # the 58,192 new bytes, and little more


@pytest.mark.parametrize(
    ("source_size", "target_size"),
    [(0, 0), (0, MIB), (MIB, 0), (5, MIB), (MIB // 3, 2 * MIB), (3 * MIB, MIB // 3)],
)
def test_any_sizes_round_trip(tmp_path: Path, source_size: int, target_size: int) -> None:
    base = random.Random(3).randbytes(max(source_size, target_size))
    round_trip(tmp_path, base[:source_size], base[:target_size])


def test_repetitive_content_round_trips(tmp_path: Path) -> None:
    text = b"".join(b"line %d of a log\n" % (i % 5000) for i in range(200_000))
    target = text[:1_000_000] + b"inserted\n" * 1000 + text[1_000_000:] + bytes(MIB)
    assert round_trip(tmp_path, text, target) < len(target) // 50


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, Path, bytes]:
    source = random.Random(4).randbytes(MIB)
    target = edited(source + source, 5)
    src, tgt = files(tmp_path, source, target)
    SegmentedZstdCodec(segment=SEGMENT).encode(src, tgt, tmp_path / "delta")
    return src, tmp_path / "delta", (tmp_path / "delta").read_bytes()


def decodes(tmp_path: Path, source: Path, delta: bytes) -> None:
    (tmp_path / "bad").write_bytes(delta)
    SegmentedZstdCodec(segment=SEGMENT).decode(source, tmp_path / "bad", tmp_path / "out")


@pytest.mark.parametrize("cut", [0, 3, len(MAGIC) + 2, 40, -1000, -1])
def test_truncated_delta_fails(tmp_path: Path, stored: tuple[Path, Path, bytes], cut: int) -> None:
    source, _, delta = stored
    with pytest.raises(DiffError, match="zstd-segmented decode failed"):
        decodes(tmp_path, source, delta[:cut])


def test_damaged_byte_never_decodes_to_other_bytes(
    tmp_path: Path, stored: tuple[Path, Path, bytes]
) -> None:
    """A flipped bit fails to decode, or (in a stretch of the reference the frame does
    not use) still gives the very same bytes: never others."""
    source, _, delta = stored
    SegmentedZstdCodec().decode(source, tmp_path / "delta", tmp_path / "right")
    right = (tmp_path / "right").read_bytes()
    rng = random.Random(6)
    failed = 0
    for at in [*range(0, 64), *rng.sample(range(64, len(delta)), 60)]:
        damaged = bytearray(delta)
        damaged[at] ^= 1 << rng.randrange(8)
        try:
            decodes(tmp_path, source, bytes(damaged))
        except DiffError:
            failed += 1
            continue
        assert (tmp_path / "out").read_bytes() == right, f"a flipped bit at {at}"
    assert failed > 100


def test_a_following_decode_fails_when_its_source_ends_early_or_its_writer_fails(
    tmp_path: Path, stored: tuple[Path, Path, bytes]
) -> None:
    """A source finished shorter than the stretches a segment names, or whose writer
    gave up, fails the decode (the reader then reports the fetch's own error)."""
    source, delta, _ = stored
    codec = SegmentedZstdCodec(segment=SEGMENT)
    for stop in ("short", "failed"):
        prefix = WrittenPrefix()
        prefix.written(0, 1000)
        if stop == "short":
            prefix.finished(1000)
        else:
            prefix.failed()
        with pytest.raises(DiffError, match="zstd-segmented decode failed"):
            codec.decode_following(source, delta, tmp_path / "out", prefix.wait_for)
    with pytest.raises(Unwritten):
        prefix.wait_for(1001)


def test_data_after_the_end_fails(tmp_path: Path, stored: tuple[Path, Path, bytes]) -> None:
    source, _, delta = stored
    with pytest.raises(DiffError, match="after the end"):
        decodes(tmp_path, source, delta + b"\0")


def test_another_reference_fails(tmp_path: Path, stored: tuple[Path, Path, bytes]) -> None:
    source, delta_path, _ = stored
    other = tmp_path / "other"
    other.write_bytes(random.Random(7).randbytes(MIB))  # same size, other bytes
    with pytest.raises(DiffError):
        SegmentedZstdCodec().decode(other, delta_path, tmp_path / "out")
    other.write_bytes(source.read_bytes()[:-1])
    with pytest.raises(DiffError, match="not the one it was made against"):
        SegmentedZstdCodec().decode(other, delta_path, tmp_path / "out")


def test_whole_file_zstd_delta_is_not_taken_for_a_segmented_one(
    tmp_path: Path, stored: tuple[Path, Path, bytes]
) -> None:
    source, _, _ = stored
    ZstdCodec().encode(source, source, tmp_path / "whole")
    with pytest.raises(DiffError, match="not a segmented zstd delta"):
        SegmentedZstdCodec().decode(source, tmp_path / "whole", tmp_path / "out")


def first_frame(delta_path: Path) -> tuple[int, int]:
    """Where the first segment's frame size starts, and where its frame starts."""
    with delta_path.open("rb") as src:
        src.seek(len(MAGIC))
        read_varint(src)  # the reference's size
        read_varint(src)  # the segment's
        for _ in range(2 * read_varint(src)):
            read_varint(src)
        size = src.tell()
        read_varint(src)  # the frame's
        return size, src.tell()


def test_frame_claiming_more_than_its_segment_is_refused_before_allocating(
    tmp_path: Path, stored: tuple[Path, Path, bytes]
) -> None:
    """A frame's window is known from its prefix and segment sizes: a damaged header
    asking for more (here a content size of 1 GiB) is refused before zstd allocates it."""
    source, delta_path, delta = stored
    _, frame = first_frame(delta_path)
    descriptor = delta[frame + 4]
    assert descriptor >> 6 == 2  # a 4-byte content size
    assert descriptor & 0x20  # one segment: the window is the content size
    damaged = bytearray(delta)
    damaged[frame + 5 : frame + 9] = (1 << 30).to_bytes(4, "little")  # 1 GiB
    with pytest.raises(DiffError, match="too much memory"):
        decodes(tmp_path, source, bytes(damaged))


def test_frame_size_past_the_end_of_the_delta_is_refused_before_reading(
    tmp_path: Path, stored: tuple[Path, Path, bytes]
) -> None:
    """A damaged frame size (here about 1.9 TB) is a truncation, found before a buffer
    of that size is asked for."""
    source, delta_path, delta = stored
    at, after = first_frame(delta_path)
    huge = bytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x37])  # 2**41 - 1 or so, as LEB128
    damaged = delta[:at] + huge + delta[after:]
    with pytest.raises(DiffError, match="truncated"):
        decodes(tmp_path, source, damaged)
