"""DiffPort in-process with zstd: the target compressed with the source as a prefix.

The source is a raw-content prefix dictionary (what `zstd --patch-from` does), so every
match into the source costs what a back-reference costs, and long-distance matching finds
moved blocks anywhere in it. The delta is one zstd frame that records the target's size
and an XXH64 checksum of it: a truncated or damaged delta, or the wrong source, fails to
decode instead of producing other bytes.

Memory: zstd holds its own copy of the whole source, plus a window buffer as large as the
target (matches may reach back anywhere in it), plus match-finder tables (a few MB at low
levels, hundreds of MB at level 19 on large inputs): about source + target bytes each way,
e.g. +210 MiB peak RSS for 100 MB against 100 MB at level 3. Files are streamed in 1 MiB
chunks. The window stops at 2 GiB: past that, the start of the source cannot be matched.
Above 256 MiB of source and target together, writers use zstd_segments.py instead,
whose memory does not follow the files' size.
"""

from __future__ import annotations

import mmap
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from deltaglider.core import progress
from deltaglider.core.errors import DiffError

if sys.version_info >= (3, 14):
    from compression.zstd import (
        CompressionParameter,
        DecompressionParameter,
        ZstdCompressor,
        ZstdDecompressor,
        ZstdDict,
        ZstdError,
    )
else:
    from backports.zstd import (
        CompressionParameter,
        DecompressionParameter,
        ZstdCompressor,
        ZstdDecompressor,
        ZstdDict,
        ZstdError,
    )

__all__ = [  # the zstd bindings too, for the segmented codec (zstd_segments.py)
    "CHUNK",
    "MAX_WINDOW_LOG",
    "MIN_PREFIX",
    "MIN_WINDOW_LOG",
    "CompressionParameter",
    "DecompressionParameter",
    "SinkDecoding",
    "ZstdCodec",
    "ZstdCompressor",
    "ZstdDecompressor",
    "ZstdDict",
    "ZstdError",
    "check_level",
    "describe",
]

# A decode run to its end: it hands what it rebuilds, a chunk at a time, to the sink.
Decoding = Callable[[Callable[[bytes], object]], None]
CHUNK = 1024 * 1024
HASH_QUEUE = 8  # chunks written but not yet hashed, at most
# zstd refuses shorter dictionaries; a source this small has nothing worth matching.
MIN_PREFIX = 8
MIN_WINDOW_LOG = 20
MAX_WINDOW_LOG = CompressionParameter.window_log.bounds()[1]  # 31 on 64-bit builds
# Without a source (a reference stored compressed) the window buys little past 128 MiB,
# and the decoder's buffer is as large as the window.
PLAIN_WINDOW_LOG = 27


class SinkDecoding:
    """`decode` to a file, `decoded_sha256` to a hash, `decode_hashed` to both, from one
    `_decode` that hands what it rebuilds, a chunk at a time, to a sink."""

    codec: str

    def decode(self, source: Path, delta: Path, target: Path) -> None:
        self._decode_into(target, partial(self._decode, source, delta), None)

    def decoded_sha256(self, source: Path, delta: Path) -> str:
        """The SHA256 of what `delta` decodes to, without writing it anywhere."""
        import hashlib  # noqa: PLC0415 (`ls` starts without it)

        digest = hashlib.sha256()
        self._decode(source, delta, digest.update)
        return digest.hexdigest()

    def decode_hashed(self, source: Path, delta: Path, target: Path) -> str:
        """`decode`, returning the SHA256 of what it wrote: hashed in a thread of its own
        as it is written (hashlib frees Python's lock), not read back."""
        return self._decode_hashed(target, partial(self._decode, source, delta))

    def _decode_hashed(self, target: Path, decoding: Decoding) -> str:
        import hashlib  # noqa: PLC0415 (`ls` starts without these)
        from collections import deque  # noqa: PLC0415
        from concurrent.futures import Future, ThreadPoolExecutor  # noqa: PLC0415

        digest = hashlib.sha256()
        queued: deque[Future[None]] = deque()
        with ThreadPoolExecutor(1) as hasher:  # one thread: chunks hashed in order

            def hash_aside(chunk: bytes) -> None:
                queued.append(hasher.submit(digest.update, chunk))
                if len(queued) > HASH_QUEUE:  # a slow hasher holds this much, no more
                    queued.popleft().result()

            self._decode_into(target, decoding, hash_aside)
        return digest.hexdigest()

    def _decode_into(
        self, target: Path, decoding: Decoding, also: Callable[[bytes], object] | None
    ) -> None:
        try:
            out = target.open("wb")
        except OSError as exc:
            raise DiffError(f"{self.codec} decode failed: {describe(exc)}") from None
        with out:
            if also is None:
                decoding(out.write)
                return

            def sink(chunk: bytes) -> None:
                out.write(chunk)
                also(chunk)

            decoding(sink)

    def _decode(self, source: Path, delta: Path, sink: Callable[[bytes], object]) -> None:
        raise NotImplementedError


class ZstdCodec(SinkDecoding):
    """zstd with the source as prefix dictionary; `level` trades encode speed for size."""

    codec = "zstd"

    def __init__(self, level: int = 3) -> None:
        check_level(level)
        self.level = level

    def encode(self, source: Path, target: Path, delta: Path) -> None:
        try:
            size = target.stat().st_size
            prefix = _prefix(source)
            window = max(source.stat().st_size + size, 1)
            if prefix is None:  # plain compression (a packed reference): a bounded window
                window = min(window, 1 << PLAIN_WINDOW_LOG)
            options: dict[int, int] = {
                CompressionParameter.compression_level: self.level,
                CompressionParameter.window_log: min(
                    max((window - 1).bit_length(), MIN_WINDOW_LOG), MAX_WINDOW_LOG
                ),
                CompressionParameter.enable_long_distance_matching: 1,
                CompressionParameter.checksum_flag: 1,
            }
            compressor = ZstdCompressor(options=options, zstd_dict=prefix)
            # The size in the frame header also caps zstd's window buffer at the target's size.
            compressor.set_pledged_input_size(size)
            with target.open("rb") as src, delta.open("wb") as out:
                while chunk := src.read(CHUNK):
                    out.write(compressor.compress(chunk))
                    progress.advance(len(chunk))
                out.write(compressor.flush(ZstdCompressor.FLUSH_FRAME))
        except (ZstdError, OSError) as exc:
            raise DiffError(f"zstd encode failed: {describe(exc)}") from None

    def _decode(self, source: Path, delta: Path, sink: Callable[[bytes], object]) -> None:
        try:
            decompressor = ZstdDecompressor(
                _prefix(source), {DecompressionParameter.window_log_max: MAX_WINDOW_LOG}
            )
            with delta.open("rb") as src:
                while not decompressor.eof:
                    chunk = b""
                    if decompressor.needs_input:
                        chunk = src.read(CHUNK)
                        if not chunk:
                            raise DiffError("zstd decode failed: the delta is truncated")
                    # Bounded output: a tiny delta can stand for a very large target.
                    rebuilt = decompressor.decompress(chunk, CHUNK)
                    sink(rebuilt)
                    progress.advance(len(rebuilt))
                if decompressor.unused_data or src.read(1):
                    raise DiffError("zstd decode failed: data after the end of the delta")
        except (ZstdError, OSError) as exc:
            raise DiffError(f"zstd decode failed: {describe(exc)}") from None


def check_level(level: int) -> None:
    low, high = CompressionParameter.compression_level.bounds()
    if not low <= level <= high:
        raise ValueError(f"zstd level must be between {low} and {high}, not {level}")


def _prefix(source: Path) -> tuple[ZstdDict, int] | None:
    """The source as a raw prefix. ZstdDict copies it: mapped, the transient second copy
    is page cache the kernel can drop rather than process memory."""
    with source.open("rb") as file:
        if file.seek(0, 2) < MIN_PREFIX:
            return None
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return ZstdDict(mapped, is_raw=True).as_prefix


def describe(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__
