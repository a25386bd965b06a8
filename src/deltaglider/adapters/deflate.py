"""Raw deflate streams (RFC 1951) inflated, and rebuilt byte for byte by zlib.

A deflate stream is not a function of its content: the compressor's level, memLevel and
strategy decide which bytes come out. A stream can be rebuilt from its content only
when zlib, re-run with the compressor's parameters, gives the very same bytes; that is
proven by comparing, never assumed. Python's zipfile and gzip, Java's Deflater and most
zip tools are zlib underneath, so most entries of real archives rebuild.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

# Content is fed in steps this small so that a wrong candidate shows itself at its first
# emitted block instead of after the whole content was compressed.
FEED = 64 * 1024


class Deflate(NamedTuple):
    """The zlib parameters that decide which deflate bytes come out."""

    level: int  # 0-9
    mem: int  # memLevel, 1-9
    strategy: int  # 0-4


# zlib's default level (zipfile, Java, most zip tools) first, then Python's gzip/tarfile
# (9), then the rest; memLevel 9 last (GNU gzip's buffer size, where its output agrees).
CANDIDATES: tuple[Deflate, ...] = tuple(
    Deflate(level, mem, zlib.Z_DEFAULT_STRATEGY)
    for mem in (8, 9)
    for level in (6, 9, 1, 2, 3, 4, 5, 7, 8, 0)
)


def inflate(data: bytes | memoryview, limit: int) -> bytes | None:
    """The content of the raw deflate stream that is exactly `data`; None when `data` is
    not one complete, valid stream with nothing after it, or inflates to more than
    `limit` bytes."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        content = inflater.decompress(data, limit + 1)
    except zlib.error:
        return None
    if len(content) > limit or not inflater.eof or inflater.unused_data:
        return None
    return content


def inflate_prefix(data: bytes | memoryview, limit: int) -> tuple[bytes, int] | None:
    """The content of the raw deflate stream at the start of `data`, and how many bytes
    of `data` it took; None when no complete stream starts there or it inflates to more
    than `limit` bytes."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        content = inflater.decompress(data, limit + 1)
    except zlib.error:
        return None
    if len(content) > limit or not inflater.eof:
        return None
    return content, len(data) - len(inflater.unused_data)


def deflate(content: bytes | memoryview, params: Deflate) -> bytes:
    """The raw deflate stream that zlib makes of `content` with `params`."""
    deflater = zlib.compressobj(
        params.level, zlib.DEFLATED, -zlib.MAX_WBITS, params.mem, params.strategy
    )
    return deflater.compress(content) + deflater.flush()


def find_params(
    content: bytes | memoryview,
    stream: bytes | memoryview,
    first: Deflate | None = None,
    *,
    whole: bool = True,
) -> Deflate | None:
    """Parameters with which zlib rebuilds `stream` byte for byte from `content` (tried
    `first`, then CANDIDATES), proven by comparison; None when none does. With `whole`
    False, only the first QUICK bytes of content are compared: the caller proves the
    rest by rebuilding the whole file (and calls again with `whole` if that fails)."""
    tried = (first, *(c for c in CANDIDATES if c != first)) if first else CANDIDATES
    for params in tried:
        if params is not None and _rebuilds(content, stream, params, whole):
            return params
    return None


QUICK = 256 * 1024  # content compared by a quick look: wrong parameters differ long before
# ... provided some output was compared: zlib holds back its first block until its symbol
# buffer fills, which compressible content (an npm tarball's tar) does only after more
# than QUICK bytes; the quick look goes on until this much of the stream was compared.
QUICK_OUTPUT = 16 * 1024


def _rebuilds(
    content: bytes | memoryview, stream: bytes | memoryview, params: Deflate, whole: bool
) -> bool:
    """Whether deflating `content` with `params` gives exactly `stream` (or, unless
    `whole`, its start as far as QUICK bytes of content and QUICK_OUTPUT bytes of the
    stream give); stops at the first difference."""
    deflater = zlib.compressobj(
        params.level, zlib.DEFLATED, -zlib.MAX_WBITS, params.mem, params.strategy
    )
    expected = memoryview(stream)
    source = memoryview(content)
    at = 0
    for start in range(0, len(source), FEED):
        piece = deflater.compress(source[start : start + FEED])
        if expected[at : at + len(piece)] != piece:
            return False
        at += len(piece)
        quick_done = start + FEED >= QUICK and at >= QUICK_OUTPUT
        if not whole and quick_done and start + FEED < len(source):
            return True
    piece = deflater.flush()
    return len(expected) == at + len(piece) and expected[at:] == piece
