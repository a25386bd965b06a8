"""Raw deflate streams (RFC 1951) inflated, and rebuilt byte for byte by classic zlib.

A deflate stream is not a function of its content: the compressor's level, memLevel and
strategy decide which bytes come out. A stream can be rebuilt from its content only
when zlib, re-run with the compressor's parameters, gives the very same bytes; that is
proven by comparing, never assumed. Python's zipfile and gzip, Java's Deflater and most
zip tools are zlib underneath, so most entries of real archives rebuild. Streams are
deflated by classic zlib wherever this runs (zlib_classic: Python's own zlib, or the
bundled one where Python's gives other bytes); without it no recipe is found.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from deltaglider.adapters import zlib_classic
from deltaglider.adapters.deflate_pieces import Pieces

# Content is fed in steps this small so that a wrong candidate shows itself at its first
# emitted block instead of after the whole content was compressed.
FEED = 64 * 1024
# A whole stream is proven in larger steps: each step gives Python's lock back, and a
# proof running beside other work (streams proven side by side while the form is made)
# waits for it at each step.
PROOF_FEED = 1024 * 1024


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
    """The raw deflate stream that classic zlib makes of `content` with `params`
    (DeflateMissing on a machine without it)."""
    deflater = zlib_classic.compressobj(params.level, params.mem, params.strategy)
    return deflater.compress(content) + deflater.flush()


def find_params(
    content: bytes | memoryview,
    stream: bytes | memoryview,
    first: Deflate | None = None,
    *,
    whole: bool = True,
) -> Found | None:
    """Parameters with which zlib rebuilds `stream` byte for byte from `content` (tried
    `first`, then CANDIDATES), proven by comparison; None when none does. With `whole`
    False, only the first QUICK bytes of content are compared (`Found.whole` says
    whether that was all of it): `prove` compares the rest. None on a machine without
    classic zlib: no recipe is proven with another deflate."""
    if not zlib_classic.available():
        return None
    tried = (first, *(c for c in CANDIDATES if c != first)) if first else CANDIDATES
    for params in tried:
        if params is None:
            continue
        compared = _rebuilds(content, stream, params, whole)
        if compared is not None:
            return Found(params, compared == len(content))
    return None


class Found(NamedTuple):
    """Parameters that rebuild a stream (as far as compared)."""

    params: Deflate
    whole: bool  # compared over the whole stream, and remembered (PROVEN)


# Content bytes zlib deflates per second, by level: measured here (2 shared cores) on
# the test corpus (a numpy extension module, pip's sources, a setuptools sdist's tar),
# the slowest of the three rounded down. What re-deflating a stream on download costs.
SPEED = (400e6, 80e6, 80e6, 80e6, 25e6, 25e6, 25e6, 8e6, 8e6, 8e6)


def seconds(content_size: int, params: Deflate) -> float:
    """About how long deflating this much content with `params` takes."""
    return content_size / SPEED[params.level]


def prove(content: bytes | memoryview, stream: bytes | memoryview, params: Deflate) -> bool:
    """Whether deflating all of `content` with `params` gives exactly `stream`; if so
    the stream is remembered as proven (PROVEN), so rebuilding it again costs nothing."""
    return _rebuilds(content, stream, params, whole=True) is not None


QUICK = 256 * 1024  # content compared by a quick look: wrong parameters differ long before
# ... provided some output was compared: zlib holds back its first block until its symbol
# buffer fills, which compressible content (an npm tarball's tar) does only after more
# than QUICK bytes; the quick look goes on until this much of the stream was compared.
QUICK_OUTPUT = 16 * 1024


def _rebuilds(
    content: bytes | memoryview, stream: bytes | memoryview, params: Deflate, whole: bool
) -> int | None:
    """How many bytes of `content` deflating with `params` was compared over and gave
    exactly `stream` (all of them when `whole`; else as far as QUICK bytes of content and
    QUICK_OUTPUT bytes of the stream give); None at the first difference. A stream
    compared whole is remembered in PROVEN."""
    deflater = zlib_classic.compressobj(params.level, params.mem, params.strategy)
    expected = memoryview(stream)
    source = memoryview(content)
    at = 0
    feed = PROOF_FEED if whole else FEED
    for start in range(0, len(source), feed):
        piece = deflater.compress(source[start : start + feed])
        if expected[at : at + len(piece)] != piece:
            return None
        at += len(piece)
        quick_done = start + feed >= QUICK and at >= QUICK_OUTPUT
        if not whole and quick_done and start + feed < len(source):
            return start + feed
    piece = deflater.flush()
    if len(expected) != at + len(piece) or expected[at:] != piece:
        return None
    PROVEN.put(digest(source), params, expected)
    return len(source)


def digest(content: bytes | memoryview) -> bytes:
    """What a content is known by in PROVEN."""
    return hashlib.sha256(content).digest()


# A stream's recipe: deflated whole with these parameters, or in pieces (deflate_pieces).
Recipe = Deflate | tuple[Deflate, Pieces]


class Proven:
    """Deflate streams this process compared byte for byte with zlib's output (or made
    with zlib), by the SHA256 of their content and their parameters: zlib gives the same
    bytes for the same content and parameters, so a stream found here is what deflating
    would give, without the deflating. Holds at most `limit` bytes, oldest dropped first.

    This is what lets a writer's proof rebuild a file without deflating again the streams
    its recipe search already compared whole (docs/FORMAT.md 9.1, "Writing"), and a
    reader skip a deflate it made for an earlier file of the same run."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.hits = 0
        self._streams: OrderedDict[tuple[bytes, Recipe], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: bytes, params: Recipe, stream: bytes | memoryview) -> None:
        if len(stream) > self.limit:
            return
        with self._lock:
            if (key, params) in self._streams:
                return
            self._streams[key, params] = bytes(stream)
            self.size += len(stream)
            while self.size > self.limit:
                _, dropped = self._streams.popitem(last=False)
                self.size -= len(dropped)

    def get(self, key: bytes, params: Recipe) -> bytes | None:
        with self._lock:
            found = self._streams.get((key, params))
            if found is not None:
                self._streams.move_to_end((key, params))
                self.hits += 1
            return found

    def deflate(self, content: bytes | memoryview, params: Deflate) -> bytes:
        """`deflate(content, params)`, taken from here when it is known."""
        return self.made(content, params, lambda: deflate(content, params))

    def made(self, content: bytes | memoryview, recipe: Recipe, make: Callable[[], bytes]) -> bytes:
        """The stream `recipe` makes of `content`: from here when it is known, else
        `make()`'s (remembered)."""
        key = digest(content)
        found = self.get(key, recipe)
        if found is None:
            found = make()
            self.put(key, recipe, found)
        return found


PROVEN = Proven(64 * 1024 * 1024)
