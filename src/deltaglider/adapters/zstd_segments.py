"""DiffPort `zstd-segmented`: the target in segments, each a zstd frame whose prefix is
only the stretches of the source that segment matches (docs/FORMAT.md, section 8).

The whole-file `zstd` codec holds the whole source and a window as large as the target
(about 2.2x the file). Here memory is bounded by the segment and its stretches, whatever
the files' sizes: the stretches are found by content (adapters/anchors.py), so an
insertion that shifts every later offset, or a block moved anywhere in the source,
still matches. Decoding streams segment by segment, reading only the stretches each
needs (plain reads: mapped pages would count in the process's memory).

Grammar (varints unsigned LEB128):
    delta   = MAGIC source-size:varint segment* 0:varint
    segment = target-size:varint count:varint (offset:varint length:varint){count}
              frame-size:varint frame
`frame` is one zstd frame with content size and XXH64 checksum, compressed with the
concatenated stretches (ascending, disjoint, within the source) as raw prefix. A
missing terminator, a frame that ends early or says another size, data after the
terminator or a source of another size are errors, never other bytes.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from deltaglider.adapters.anchors import Aligner, AnchorTable, Range
from deltaglider.adapters.zstd_codec import (
    CHUNK,
    MAX_WINDOW_LOG,
    MIN_PREFIX,
    MIN_WINDOW_LOG,
    CompressionParameter,
    DecompressionParameter,
    SinkDecoding,
    ZstdCompressor,
    ZstdDecompressor,
    ZstdDict,
    ZstdError,
    check_level,
    describe,
)
from deltaglider.adapters.zstd_stretches import FetchedStretches, FileStretches, read_prefix
from deltaglider.core import progress
from deltaglider.core.errors import DiffError
from deltaglider.ports import ByteRanges

MAGIC = b"DGZS\x01"
DECODE = "zstd-segmented decode failed"
SEGMENT = 32 * 1024 * 1024
# Reference + file above this many segments get this codec (wiring.py): below, the
# whole-file `zstd` codec's memory (~2.2x the file) stays under ~330 MB of RSS.
SEGMENTED_ABOVE = 8
SLACK = 1024 * 1024  # of source on both sides of each stretch
# Of source a segment may name, for a reader: a damaged delta must not make it allocate
# without end (a writer names at most 3 segments' worth).
MOST_READ = 1 << 30
# Segments decoded side by side (zstd frees Python's lock), besides the one whose bytes
# are being handed on: each holds its stretches, a copy of them as zstd's prefix, and its
# bytes (about 100 MB for 32 MiB segments).
DECODERS = 1


class SegmentedZstdCodec(SinkDecoding):
    """zstd frame by frame against the matching stretches of the source."""

    codec = "zstd-segmented"

    def __init__(self, level: int = 3, *, segment: int = SEGMENT) -> None:
        check_level(level)
        if segment < 1:
            raise ValueError("the segment size must be positive")
        self.level = level
        self.segment = segment
        self.slack = max(1, min(SLACK, segment // 4))
        self.budget = 3 * segment

    def encode(self, source: Path, target: Path, delta: Path) -> None:
        from deltaglider.core.encoding import varint  # noqa: PLC0415 (`ls` starts without it)

        try:
            table = AnchorTable.of(source)
            aligner = Aligner(table, slack=self.slack, budget=self.budget)
            with source.open("rb") as ref, target.open("rb") as src, delta.open("wb") as out:
                out.write(MAGIC + varint(table.size))
                start = 0
                while segment := src.read(self.segment):
                    stretches = aligner.ranges(segment, start)
                    frame = self._frame(read_prefix(ref, stretches), segment)
                    out.write(varint(len(segment)) + varint(len(stretches)))
                    for stretch in stretches:
                        out.write(varint(stretch.offset) + varint(stretch.length))
                    out.write(varint(len(frame)))
                    out.write(frame)
                    start += len(segment)
                    progress.advance(len(segment))
                out.write(varint(0))
        except (ZstdError, OSError) as exc:
            raise DiffError(f"zstd-segmented encode failed: {describe(exc)}") from None

    def _frame(self, prefix: bytearray, segment: bytes) -> bytes:
        window = len(prefix) + len(segment)
        options: dict[int, int] = {
            CompressionParameter.compression_level: self.level,
            CompressionParameter.window_log: _window_log(window),
            CompressionParameter.enable_long_distance_matching: 1,
            CompressionParameter.checksum_flag: 1,
        }
        compressor = ZstdCompressor(options=options, zstd_dict=_as_prefix(prefix))
        del prefix  # ZstdDict holds its own copy
        compressor.set_pledged_input_size(len(segment))
        # Fed a CHUNK at a time: given whole, its long-distance matcher finds a tenth as
        # much (12.7 KB instead of 1.7 KB for 8 MiB found unchanged).
        view = memoryview(segment)
        parts = [compressor.compress(view[at : at + CHUNK]) for at in range(0, len(view), CHUNK)]
        parts.append(compressor.flush(ZstdCompressor.FLUSH_FRAME))
        return b"".join(parts)

    def decode_following(
        self, source: Path, delta: Path, target: Path, ready: Callable[[int], None]
    ) -> str:
        """`decode_hashed` while `source` is being written: each segment waits for the
        source's bytes up to the end of its last stretch (`ready`), so the decode
        follows a download instead of waiting for all of it. The source's size is not
        compared with the delta's (its writer's checks of it stand in)."""
        stretches = FileStretches(source, ready)
        return self._decode_hashed(target, partial(self._decode_from, stretches, delta))

    def decode_ranged(self, source: ByteRanges, delta: Path, target: Path) -> str:
        """`decode_hashed` from the stretches of a source read by ranges where it is,
        fetched a few segments ahead (zstd_stretches.py): none of it copied whole."""
        stretches = FetchedStretches(source)
        return self._decode_hashed(target, partial(self._decode_from, stretches, delta))

    def _decode(self, source: Path, delta: Path, sink: Callable[[bytes], object]) -> None:
        self._decode_from(FileStretches(source), delta, sink)

    def _decode_from(
        self,
        source: FileStretches | FetchedStretches,
        delta: Path,
        sink: Callable[[bytes], object],
    ) -> None:
        """Segments are decoded in threads, each against its own stretches (they are
        independent), while the one before is handed to `sink`: in order, each once it
        is whole and checked. Every segment's header is read (and checked) first, so
        that a source read by ranges can be fetched ahead."""
        try:
            with delta.open("rb") as src:
                size, segments = _read_segments(src, delta.stat().st_size)
                source.check_size(size)
                wanted = [segment.stretches for segment in segments]
                with source.reading(wanted) as prefixes, ThreadPoolExecutor(DECODERS) as pool:
                    pending: deque[Future[list[bytes]]] = deque()
                    for number, segment in enumerate(segments):
                        src.seek(segment.frame_at)
                        frame = src.read(segment.frame_size)
                        work = partial(_decode_segment, partial(prefixes, number), frame)
                        # (each in the caller's context: progress goes to its transfer)
                        pending.append(pool.submit(copy_context().run, work, segment.length))
                        if len(pending) > DECODERS:
                            _hand_over(pending.popleft(), sink)
                    while pending:
                        _hand_over(pending.popleft(), sink)
        except (ZstdError, OSError) as exc:
            raise DiffError(f"zstd-segmented decode failed: {describe(exc)}") from None


@dataclass(frozen=True)
class _Segment:
    """A segment's header: its size, its stretches, and where its frame is."""

    length: int
    stretches: list[Range]
    frame_at: int
    frame_size: int


def _read_segments(src: BinaryIO, end: int) -> tuple[int, list[_Segment]]:
    """The source's size and every segment's header, each checked, the frames skipped."""
    if src.read(len(MAGIC)) != MAGIC:
        raise DiffError(f"{DECODE}: not a segmented zstd delta")
    size = read_varint(src)
    segments = []
    while length := read_varint(src):
        stretches = [Range(read_varint(src), read_varint(src)) for _ in range(read_varint(src))]
        _check_stretches(stretches, size)
        frame_size = read_varint(src)
        if frame_size > end - src.tell():
            raise DiffError(f"{DECODE}: the delta is truncated")
        segments.append(_Segment(length, stretches, src.tell(), frame_size))
        src.seek(frame_size, io.SEEK_CUR)
    if src.read(1):
        raise DiffError(f"{DECODE}: data after the end of the delta")
    return size, segments


def _hand_over(segment: Future[list[bytes]], sink: Callable[[bytes], object]) -> None:
    for chunk in segment.result():
        sink(chunk)


def _decode_segment(prefix_of: Callable[[], bytearray], frame: bytes, length: int) -> list[bytes]:
    """A segment's bytes, rebuilt from its frame against its stretches of the source."""
    chunks: list[bytes] = []
    _decode_frame(prefix_of(), io.BytesIO(frame), len(frame), length, chunks.append)
    return chunks


def _decode_frame(
    prefix: bytearray, src: BinaryIO, frame_size: int, length: int, sink: Callable[[bytes], object]
) -> None:
    # The window its writer chose: a damaged header asking for more is refused before
    # zstd allocates it.
    window = _window_log(len(prefix) + length)
    decompressor = ZstdDecompressor(
        _as_prefix(prefix), {DecompressionParameter.window_log_max: window}
    )
    del prefix
    left, written = frame_size, 0
    while not decompressor.eof:
        chunk = b""
        if decompressor.needs_input:
            chunk = src.read(min(CHUNK, left))
            if not chunk:
                raise DiffError(f"{DECODE}: the delta is truncated")
            left -= len(chunk)
        rebuilt = decompressor.decompress(chunk, CHUNK)
        written += len(rebuilt)
        if written > length:
            raise DiffError(f"{DECODE}: a segment is longer than it says")
        sink(rebuilt)
        progress.advance(len(rebuilt))
    if left or decompressor.unused_data or written != length:
        raise DiffError(f"{DECODE}: a segment is damaged")


def _window_log(window: int) -> int:
    """The window log of a frame over `window` bytes of prefix and segment."""
    return min(max((window - 1).bit_length(), MIN_WINDOW_LOG), MAX_WINDOW_LOG)


def _check_stretches(stretches: list[Range], size: int) -> None:
    at = 0
    for stretch in stretches:
        if stretch.offset < at or stretch.length < 1 or stretch.end > size:
            raise DiffError(f"{DECODE}: a segment names no part of the reference")
        at = stretch.end
    if sum(s.length for s in stretches) > MOST_READ:
        raise DiffError(f"{DECODE}: a segment names too much of the reference")


def _as_prefix(prefix: bytearray) -> tuple[ZstdDict, int] | None:
    return ZstdDict(prefix, is_raw=True).as_prefix if len(prefix) >= MIN_PREFIX else None


def read_varint(src: BinaryIO) -> int:
    value = shift = 0
    while True:
        byte = src.read(1)
        if not byte:
            raise DiffError(f"{DECODE}: the delta is truncated")
        if shift > 63:
            raise DiffError(f"{DECODE}: a malformed number")
        value |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            return value
