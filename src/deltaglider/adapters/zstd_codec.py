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
"""

from __future__ import annotations

import mmap
import sys
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

CHUNK = 1024 * 1024
# zstd refuses shorter dictionaries; a source this small has nothing worth matching.
MIN_PREFIX = 8
MIN_WINDOW_LOG = 20
MAX_WINDOW_LOG = CompressionParameter.window_log.bounds()[1]  # 31 on 64-bit builds


class ZstdCodec:
    """zstd with the source as prefix dictionary; `level` trades encode speed for size."""

    codec = "zstd"

    def __init__(self, level: int = 3) -> None:
        low, high = CompressionParameter.compression_level.bounds()
        if not low <= level <= high:
            raise ValueError(f"zstd level must be between {low} and {high}, not {level}")
        self.level = level

    def encode(self, source: Path, target: Path, delta: Path) -> None:
        try:
            size = target.stat().st_size
            prefix = _prefix(source)
            window = max(source.stat().st_size + size, 1)
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
            raise DiffError(f"zstd encode failed: {_detail(exc)}") from None

    def decode(self, source: Path, delta: Path, target: Path) -> None:
        try:
            decompressor = ZstdDecompressor(
                _prefix(source), {DecompressionParameter.window_log_max: MAX_WINDOW_LOG}
            )
            with delta.open("rb") as src, target.open("wb") as out:
                while not decompressor.eof:
                    chunk = b""
                    if decompressor.needs_input:
                        chunk = src.read(CHUNK)
                        if not chunk:
                            raise DiffError("zstd decode failed: the delta is truncated")
                    # Bounded output: a tiny delta can stand for a very large target.
                    rebuilt = decompressor.decompress(chunk, CHUNK)
                    out.write(rebuilt)
                    progress.advance(len(rebuilt))
                if decompressor.unused_data or src.read(1):
                    raise DiffError("zstd decode failed: data after the end of the delta")
        except (ZstdError, OSError) as exc:
            raise DiffError(f"zstd decode failed: {_detail(exc)}") from None


def _prefix(source: Path) -> tuple[ZstdDict, int] | None:
    """The source as a raw prefix. ZstdDict copies it: mapped, the transient second copy
    is page cache the kernel can drop rather than process memory."""
    with source.open("rb") as file:
        if file.seek(0, 2) < MIN_PREFIX:
            return None
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return ZstdDict(mapped, is_raw=True).as_prefix


def _detail(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__
