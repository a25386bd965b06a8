"""ContainerPort over zlib: looks inside single-member gzip streams (.tar.gz, .tgz).

A gzip stream is rebuilt byte for byte when zlib, re-run with the compressor's
parameters over the uncompressed bytes, gives the same deflate bytes. That holds for
streams written by zlib itself (Python's `gzip` and `tarfile`: level 9, memLevel 8) and
not for other deflate implementations, so a recipe is only returned once a full rebuild
has been compared with the original, and the caller falls back to a raw delta otherwise.

Recipe, one short ASCII line (it is stored in S3 user metadata, 2 KB in all):

    v1;level=<1-9>;mem=<1-9>;strategy=<0-4>;header=<standard base64 of the header bytes>

`level`, `mem` and `strategy` are zlib's compression level, memLevel and strategy for a
raw deflate stream (wbits -15). `header` is the original gzip header verbatim (RFC 1952:
magic, CM, FLG, MTIME, XFL, OS and any FEXTRA, FNAME, FCOMMENT, FHCRC fields), at most
1024 bytes, so at most 1368 base64 characters. The trailer (CRC32, ISIZE) is recomputed.

The recipe holds for classic zlib's deflate; forks such as zlib-ng or Chromium's zlib
emit other bytes for the same parameters, so recipes are found and rebuilt with classic
zlib wherever this runs (zlib_classic), and the rebuilt stream is still checked against
its recorded SHA256 by the caller.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from deltaglider.adapters import zlib_classic
from deltaglider.core.errors import FormatError

CHUNK = 1024 * 1024
# Deflate input is fed in steps this small so that a wrong candidate shows itself at
# its first emitted block instead of after a whole chunk of wasted compression.
FEED = 64 * 1024
MAX_HEADER = 1024

FHCRC, FEXTRA, FNAME, FCOMMENT = 0x02, 0x04, 0x08, 0x10
FLG_RESERVED = 0xE0

RECIPE = re.compile(
    r"v1;level=(?P<level>[1-9]);mem=(?P<mem>[1-9]);strategy=(?P<strategy>[0-4]);"
    r"header=(?P<header>[A-Za-z0-9+/]{1,1368}={0,2})"
)


class Deflate(NamedTuple):
    """The zlib parameters that decide which deflate bytes come out."""

    level: int
    mem: int
    strategy: int


# Python's gzip module first, then the common default level, then the rest. memLevel 9
# matches GNU gzip's buffer size, for the inputs where its deflate agrees with zlib's.
CANDIDATES = tuple(
    Deflate(level, mem, zlib.Z_DEFAULT_STRATEGY)
    for mem in (8, 9)
    for level in (9, 6, 1, 2, 3, 4, 5, 7, 8)
)


class GzipContainer:
    """Single-member gzip streams, decompressed and rebuilt in 1 MiB chunks."""

    kind = "gzip"

    def decompress(self, packed: Path, out: Path) -> bool:
        with packed.open("rb") as src, out.open("wb") as dst:
            return _skip_header(src) is not None and _inflate(src, dst)

    def find_recipe(self, packed: Path, unpacked: Path) -> str | None:
        if not zlib_classic.available():
            return None  # a recipe is proven with classic zlib, or not at all
        with packed.open("rb") as original:
            length = _skip_header(original)
            if length is None or length > MAX_HEADER:
                return None
            original.seek(0)
            header = original.read(length)
            for params in CANDIDATES:
                original.seek(length)
                with unpacked.open("rb") as src:
                    if _same(original, _body(src, params)):
                        return _format_recipe(params, header)
        return None

    def rebuild(self, unpacked: Path, recipe: str, out: Path) -> None:
        params, header = _parse_recipe(recipe)
        zlib_classic.require()  # before anything is written
        with unpacked.open("rb") as src, out.open("wb") as dst:
            dst.write(header)
            for piece in _body(src, params):
                dst.write(piece)


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def _skip_header(src: BinaryIO) -> int | None:
    """Reads past a gzip member header and returns its length; None if it is not one."""
    fixed = src.read(10)
    if len(fixed) < 10 or fixed[:3] != b"\x1f\x8b\x08" or fixed[3] & FLG_RESERVED:
        return None
    flags = fixed[3]
    crc = zlib.crc32(fixed)
    if flags & FEXTRA:
        xlen = src.read(2)
        extra = src.read(int.from_bytes(xlen, "little"))
        if len(xlen) < 2 or len(extra) < int.from_bytes(xlen, "little"):
            return None
        crc = zlib.crc32(xlen + extra, crc)
    for flag in (FNAME, FCOMMENT):
        if flags & flag:
            found = _skip_zero_terminated(src, crc)
            if found is None:
                return None
            crc = found
    if flags & FHCRC and src.read(2) != struct.pack("<H", crc & 0xFFFF):
        return None
    return src.tell()


def _skip_zero_terminated(src: BinaryIO, crc: int) -> int | None:
    """Reads past a NUL-terminated header field, returning the header CRC32 so far."""
    while True:
        start = src.tell()
        block = src.read(CHUNK)
        if not block:
            return None
        end = block.find(0)
        if end >= 0:
            src.seek(start + end + 1)
            return zlib.crc32(block[: end + 1], crc)
        crc = zlib.crc32(block, crc)


def _inflate(src: BinaryIO, dst: BinaryIO) -> bool:
    """Inflates the deflate stream after the header into `dst` and checks the trailer."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    crc = size = 0
    try:
        for chunk in _chunks(src):
            data = chunk
            while True:
                # max_length keeps a small, highly compressed chunk from ballooning.
                piece = inflater.decompress(data, CHUNK)
                dst.write(piece)
                crc = zlib.crc32(piece, crc)
                size += len(piece)
                data = inflater.unconsumed_tail
                if inflater.eof or (not data and len(piece) < CHUNK):
                    break
            if inflater.eof:
                break
    except zlib.error:
        return False
    trailer = inflater.unused_data[:9]
    if len(trailer) < 9:
        trailer += src.read(9 - len(trailer))  # a 9th byte means a second member or junk
    return inflater.eof and trailer == _trailer(crc, size)


def _trailer(crc: int, size: int) -> bytes:
    return struct.pack("<II", crc, size & 0xFFFFFFFF)


def _body(src: BinaryIO, params: Deflate) -> Iterator[bytes]:
    """The deflate stream and trailer that `params` make of `src`, piece by piece."""
    deflater = zlib_classic.compressobj(params.level, params.mem, params.strategy)
    crc = size = 0
    for chunk in _chunks(src):
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
        view = memoryview(chunk)
        for start in range(0, len(view), FEED):
            yield deflater.compress(view[start : start + FEED])
    yield deflater.flush()
    yield _trailer(crc, size)


def _same(original: BinaryIO, pieces: Iterator[bytes]) -> bool:
    """Whether `pieces` are exactly the rest of `original`; stops at the first difference."""
    for piece in pieces:
        if original.read(len(piece)) != piece:
            return False
    return original.read(1) == b""


def _format_recipe(params: Deflate, header: bytes) -> str:
    encoded = base64.b64encode(header).decode("ascii")
    return f"v1;level={params.level};mem={params.mem};strategy={params.strategy};header={encoded}"


def _parse_recipe(recipe: str) -> tuple[Deflate, bytes]:
    match = RECIPE.fullmatch(recipe)
    header = _decode_header(match["header"]) if match else None
    if not match or header is None:
        raise FormatError(f"malformed or unknown gzip recipe: {recipe[:80]!r}")
    return Deflate(int(match["level"]), int(match["mem"]), int(match["strategy"])), header


def _decode_header(text: str) -> bytes | None:
    """The header bytes in a recipe, or None unless they are exactly one gzip header."""
    try:
        header = base64.b64decode(text, validate=True)
    except binascii.Error:
        return None
    if len(header) > MAX_HEADER or _skip_header(io.BytesIO(header)) != len(header):
        return None
    return header
