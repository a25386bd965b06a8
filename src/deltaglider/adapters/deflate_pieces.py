"""A deflate stream proven and rebuilt in pieces, side by side (docs/FORMAT.md 9.1, `r`).

Re-deflating a stream is one long piece of work: a setuptools sdist's 7.8 MB tar takes
about a second at level 9, and both its upload's proof and every download's rebuild
wait for it. zlib's compressor, started afresh at the end of one of the stream's blocks
with the 32 KiB of content before it as its dictionary, gives the stream's own bits from
there on (all 88 block ends of that sdist; in a stream with stored blocks, those at a
byte boundary: see find_pieces). A recipe records such restarts: each piece
is deflated on its own, in threads (zlib frees Python's lock), and their bits are joined.

Nothing here trusts zlib's internals. The proof compares every piece's bits with the
stream's, and a rebuild does exactly what the proof compared: the same pieces, the same
dictionary, the same EXTRA content after each piece's end (so that its last block ends
where the stream's did), its first bits taken and the rest dropped. A restart that does
not give the stream's bits is replaced by the next block end it could take; where that
fails too, the stream is proven whole instead.

The block ends are found by zlib's inflate (Z_BLOCK), through ctypes; where no zlib
library loads, there are no restarts and streams are proven whole.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from deltaglider.adapters import zlib_classic
from deltaglider.adapters.zlib_classic import ZStream
from deltaglider.core.errors import FormatError

Buffer = bytes | memoryview

WINDOW = 32 * 1024  # content before a piece that primes its compressor: deflate's window
EXTRA = 16 * 1024  # content fed past a piece's end: its last block ends as the stream's did
PIECE = 1024 * 1024  # content per piece, at least: fewer, larger pieces join cheaper
SLOW_LEVELS = (4, 9)  # zlib's lazy-matching levels, whose compressors restart
Z_BLOCK, Z_OK, Z_STREAM_END = 5, 0, 1
STORED = 0  # a block's type (its two bits after its last-block bit): stored as it is
OUT = 256 * 1024  # inflated bytes per call finding block ends (zlib keeps its window)


class Restart(NamedTuple):
    """Where a piece starts: its offset in the content, and in the stream in bits."""

    content: int
    bit: int


class Pieces(NamedTuple):
    """How a stream is deflated in pieces: where each piece after the first starts, and
    the stream's length in bytes (the last piece's bits run to its end, zeros past what
    the compressor gave)."""

    restarts: tuple[Restart, ...]
    length: int


class Plan(NamedTuple):
    """The pieces a proof tries first, and for each restart the next block end that
    find_pieces could have taken, tried in its place when it does not give the stream's
    bits (None: there is none before the next restart)."""

    pieces: Pieces
    alternates: tuple[Restart | None, ...]


def find_pieces(stream: Buffer, size: int, params: Params) -> Plan | None:
    """Restarts at block ends of `stream` (whose content is `size` bytes), each piece of
    at least PIECE bytes of content; None when there are none to take or no zlib library
    to find them with, or the level is one of zlib's fast ones (1-3: they hash only
    short matches, which a dictionary does not reproduce; measured, they do not
    restart).

    In a stream with stored blocks, only byte-aligned block ends: a piece is deflated
    from bit 0, and a stored block is padded to the next byte, so from a block end at
    another bit a piece holding one gives other bits (measured: 6 of a Django sdist's
    408 block ends fail so; none of its 86 aligned ones)."""
    if size < 2 * PIECE or not SLOW_LEVELS[0] <= params[0] <= SLOW_LEVELS[1]:
        return None
    ends = block_ends(stream, size)
    if ends is None:
        return None
    starts = [0, *(end.bit for end in ends)]
    if any(stream_bits(stream, bit + 1, 2) == STORED for bit in starts):
        ends = [end for end in ends if end.bit % 8 == 0]
    chosen: list[int] = []
    last = 0
    for index, end in enumerate(ends):
        if end.content - last >= PIECE and size - end.content >= PIECE:
            chosen.append(index)
            last = end.content
    if not chosen:
        return None
    limits = [*chosen[1:], len(ends)]
    alternates = (
        ends[i + 1] if i + 1 < limit else None for i, limit in zip(chosen, limits, strict=True)
    )
    return Plan(Pieces(tuple(ends[i] for i in chosen), len(stream)), tuple(alternates))


def block_ends(stream: Buffer, size: int) -> list[Restart] | None:
    """Where each block of the raw deflate `stream` but the last ends (content offset,
    stream bit), as zlib's inflate finds them; None when `stream` is not one whole
    stream of `size` bytes of content, or no zlib library loads."""
    library = _inflate_library()
    if library is None:
        return None
    state = ZStream()
    status = library.inflateInit2_(
        ctypes.byref(state), -15, library.zlibVersion(), ctypes.sizeof(state)
    )
    if status != Z_OK:
        return None
    source = (ctypes.c_char * len(stream)).from_buffer_copy(stream)
    target = ctypes.create_string_buffer(OUT)
    state.next_in, state.avail_in = ctypes.addressof(source), len(stream)
    ends: list[Restart] = []
    status = Z_OK
    try:
        while state.total_out <= size:  # more than `size` is not this content's stream
            if not state.avail_out:  # the content itself is not kept: only where it is
                state.next_out, state.avail_out = ctypes.addressof(target), OUT
            status = library.inflate(ctypes.byref(state), Z_BLOCK)
            if status != Z_OK:
                break  # its end; or, cut short, Z_BUF_ERROR (no progress possible)
            # 128: just after a block's end code; 64: inside the stream's last block
            if state.data_type & 128 and not state.data_type & 64 and state.total_out:
                bit = state.total_in * 8 - (state.data_type & 7)
                ends.append(Restart(state.total_out, bit))
    finally:
        library.inflateEnd(ctypes.byref(state))
    whole = status == Z_STREAM_END and state.total_in == len(stream)
    return ends if whole and state.total_out == size else None


@functools.cache
def _inflate_library() -> ctypes.CDLL | None:
    """A zlib shared library (any: inflating is the same everywhere), set up for ctypes:
    the one the system names, else libz by its usual file names."""
    found = ctypes.util.find_library("z") or ctypes.util.find_library("zlib")
    for name in filter(None, (found, "libz.so.1", "libz.1.dylib")):
        with contextlib.suppress(OSError):
            return _set_up(ctypes.CDLL(name))
    return None


def _set_up(library: ctypes.CDLL) -> ctypes.CDLL:
    library.zlibVersion.restype = ctypes.c_char_p
    library.inflateInit2_.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
    library.inflate.argtypes = (ctypes.c_void_p, ctypes.c_int)
    library.inflateEnd.argtypes = (ctypes.c_void_p,)
    return library


Params = tuple[int, int, int]  # level, memLevel, strategy


def spans(pieces: Pieces, size: int) -> list[tuple[int, int, int, int]]:
    """Each piece's content start and stop, and its first bit and bit count in the
    stream; FormatError when the restarts do not fit a content of `size` bytes, or the
    stream is longer than deflate makes of it (a damaged length must not make a reader
    allocate without end)."""
    if pieces.length > longest_stream(size):
        raise FormatError("malformed content form: a stream longer than its content allows")
    starts = [Restart(0, 0), *pieces.restarts]
    ends = [*pieces.restarts, Restart(size, pieces.length * 8)]
    for start, end in zip(starts, ends, strict=True):
        if not (start.content < end.content and start.bit < end.bit):
            raise FormatError("malformed content form: pieces out of order")
    return [(s.content, e.content, s.bit, e.bit - s.bit) for s, e in zip(starts, ends, strict=True)]


def longest_stream(size: int) -> int:
    """More than deflate makes of `size` bytes at any setting (stored blocks add 5 bytes
    per 65,535)."""
    return size + (size >> 10) + 1024


def piece_bits(content: Buffer, params: Params, start: int, stop: int, count: int) -> int:
    """The `count` bits the piece of `content` from `start` to `stop` deflates to, as an
    integer (the first bit lowest): deflated with the WINDOW before it as dictionary,
    fed EXTRA content past its stop, its output cut to `count` bits (zeros past it)."""
    level, mem, strategy = params
    zdict = content[max(0, start - WINDOW) : start] if start else None
    compressor = zlib_classic.compressobj(level, mem, strategy, zdict)
    fed = content[start : min(len(content), stop + EXTRA)]
    made = compressor.compress(fed) + compressor.flush()
    return int.from_bytes(made[: (count + 7) // 8], "little") & ((1 << count) - 1)


def stream_bits(stream: Buffer, first: int, count: int) -> int:
    """`count` bits of `stream` from bit `first`, as `piece_bits` gives them."""
    data = stream[first // 8 : (first + count + 7) // 8 + 1]
    return (int.from_bytes(data, "little") >> (first % 8)) & ((1 << count) - 1)


def rebuild(content: Buffer, params: Params, pieces: Pieces) -> bytes:
    """The stream the pieces make of `content`, deflated side by side."""
    parts = spans(pieces, len(content))
    workers = min(len(parts), os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        made = [
            pool.submit(piece_bits, content, params, start, stop, count)
            for start, stop, _, count in parts
        ]
        bits = [(piece.result(), span[3]) for piece, span in zip(made, parts, strict=True)]
    return _join(bits, pieces.length)


def _join(parts: Sequence[tuple[int, int]], length: int) -> bytes:
    """Bit strings (value, count), first bit lowest, one after another, in `length` bytes."""
    out = bytearray()
    carry = carried = 0
    for bits, count in parts:
        value = carry | (bits << carried)
        carried += count
        whole = carried // 8
        out += (value & ((1 << (whole * 8)) - 1)).to_bytes(whole, "little")
        carry, carried = value >> (whole * 8), carried % 8
    if carried:
        out.append(carry)
    if len(out) != length:
        raise FormatError("malformed content form: pieces of another length")
    return bytes(out)


class PiecesProof:
    """The proof of a stream in pieces, one task per piece (side by side on a pool).

    A piece whose start does not give the stream's bits (zlib's choices at a block end
    may depend on more than the content a dictionary gives it: one of a Django sdist's
    408 block ends) is tried from its alternate start, and the piece before it is
    proven up to there. `done` hears the pieces settled on once every task has ended,
    if proven pieces run from the stream's start to its end."""

    def __init__(
        self,
        content: Buffer,
        stream: Buffer,
        params: Params,
        plan: Plan,
        done: Callable[[Pieces], None],
    ) -> None:
        self.content, self.stream, self.params = content, stream, params
        spans(plan.pieces, len(content))  # FormatError unless they fit the content
        self._plan = plan
        self._bounds = [
            Restart(0, 0),
            *plan.pieces.restarts,
            Restart(len(content), len(stream) * 8),
        ]
        self.tasks = len(self._bounds) - 1  # one per piece
        self._proven: set[tuple[Restart, Restart]] = set()
        self._left = self.tasks
        self._done = done
        self._lock = threading.Lock()

    def piece(self, index: int) -> bool:
        """Whether piece `index` deflates to the stream's bits, from its start or from
        its alternate start (the piece before it then proven up to there)."""
        start, stop = self._bounds[index], self._bounds[index + 1]
        alternate = self._plan.alternates[index - 1] if index else None
        proven = self._proves(start, stop) or (
            alternate is not None
            and self._proves(alternate, stop)
            and self._proves(self._bounds[index - 1], alternate)
        )
        with self._lock:
            self._left -= 1
            finished = self._left == 0
        if finished and (pieces := self.settled()) is not None:
            self._done(pieces)
        return proven

    def settled(self) -> Pieces | None:
        """Restarts through proven pieces from the stream's start to its end, each the
        planned one where it was proven, else its alternate; None when there are none."""
        first, end = self._bounds[0], self._bounds[-1]
        options = [*zip(self._plan.pieces.restarts, self._plan.alternates, strict=True), (end,)]
        chains: dict[Restart, tuple[Restart, ...]] = {first: ()}
        for choices in options:
            reached: dict[Restart, tuple[Restart, ...]] = {}
            for at, chain in chains.items():
                for to in choices:
                    if to is not None and to not in reached and (at, to) in self._proven:
                        reached[to] = (*chain, to)
            chains = reached
        if end not in chains:
            return None
        return Pieces(chains[end][:-1], self._plan.pieces.length)

    def _proves(self, start: Restart, stop: Restart) -> bool:
        count = stop.bit - start.bit
        if piece_bits(self.content, self.params, start.content, stop.content, count) != (
            stream_bits(self.stream, start.bit, count)
        ):
            return False
        with self._lock:
            self._proven.add((start, stop))
        return True
