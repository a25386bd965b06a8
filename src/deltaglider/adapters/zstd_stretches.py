"""Where a segmented delta's decode reads the stretches of its source (zstd_segments.py):
from a local file (perhaps still being written by a download), or from the source where
it is, by ranged reads fetched a few segments ahead of their decode.

Read by ranges, the source is never copied whole: only the stretches the delta names
are read, once, and held only from their fetch to their segment's decode, so memory is
bounded by AHEAD_BYTES and the segments decoding, whatever the source's size.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import copy_context
from io import BufferedReader
from pathlib import Path

from deltaglider.adapters.anchors import Range
from deltaglider.core.errors import DiffError
from deltaglider.ports import ByteRanges

# Of stretches fetched and not yet decoded (at least one segment's): about three
# segments of 32 MiB, what keeps the decoder fed from a server a round trip away.
AHEAD_BYTES = 96 * 1024 * 1024
FETCHERS = 3  # segments' stretches fetched side by side

Prefixes = Callable[[int], bytearray]  # a segment's stretches, by its number


class FileStretches:
    """Stretches read from a local file; with `ready`, one still being written: each
    segment waits for the bytes up to the end of its last stretch."""

    def __init__(self, source: Path, ready: Callable[[int], None] | None = None) -> None:
        self.source, self.ready = source, ready

    def check_size(self, size: int) -> None:
        """A file being written has no size yet: its writer's checks of it stand in."""
        if self.ready is None and self.source.stat().st_size != size:
            raise _another_size()

    @contextmanager
    def reading(self, wanted: list[list[Range]]) -> Iterator[Prefixes]:
        def prefix(number: int) -> bytearray:
            stretches = wanted[number]
            if self.ready is not None and stretches:
                self.ready(stretches[-1].end)  # ascending: the last ends furthest
            # Unbuffered: a read-ahead must not take bytes past the stretches, perhaps
            # unwritten.
            with self.source.open("rb", buffering=0) as ref:
                return read_prefix(ref, stretches)

        yield prefix


class FetchedStretches:
    """Stretches read by ranges from a source that is not copied whole."""

    def __init__(self, source: ByteRanges) -> None:
        self.source = source

    def check_size(self, size: int) -> None:
        if self.source.size != size:
            raise _another_size()

    @contextmanager
    def reading(self, wanted: list[list[Range]]) -> Iterator[Prefixes]:
        with ThreadPoolExecutor(FETCHERS) as pool:
            ahead = _Ahead(pool, self.source, wanted)
            try:
                yield ahead.take
            finally:
                ahead.cancel()


class _Ahead:
    """Segments' stretches fetched in order, ahead of their decode by up to AHEAD_BYTES."""

    def __init__(
        self, pool: ThreadPoolExecutor, source: ByteRanges, wanted: list[list[Range]]
    ) -> None:
        self._pool, self._source, self._wanted = pool, source, wanted
        self._fetching: dict[int, Future[bytearray]] = {}
        self._next = 0  # the first segment not asked for yet
        self._held = 0  # bytes asked for and not yet taken
        self._lock = threading.Lock()
        with self._lock:
            self._ask(0)

    def take(self, number: int) -> bytearray:
        """Segment `number`'s stretches, once fetched; the next ones are asked for."""
        with self._lock:
            self._ask(number)
            fetching = self._fetching.pop(number)
        prefix = fetching.result()
        with self._lock:
            self._held -= len(prefix)
            self._ask(number + 1)
        return prefix

    def _ask(self, number: int) -> None:
        """Ask for every segment up to `number`, then more while they fit AHEAD_BYTES."""
        while self._next < len(self._wanted) and (self._next <= number or self._held < AHEAD_BYTES):
            stretches = self._wanted[self._next]
            self._fetching[self._next] = self._pool.submit(
                copy_context().run, fetch_prefix, self._source, stretches
            )
            self._held += sum(s.length for s in stretches)
            self._next += 1

    def cancel(self) -> None:
        with self._lock:
            for fetching in self._fetching.values():
                fetching.cancel()


def fetch_prefix(source: ByteRanges, stretches: list[Range]) -> bytearray:
    """The stretches of a source read by ranges, into one buffer."""
    buffer = bytearray(sum(s.length for s in stretches))
    with memoryview(buffer) as view:
        at = 0
        for stretch in stretches:
            source.read_into(stretch.offset, view[at : at + stretch.length])
            at += stretch.length
    return buffer


def read_prefix(ref: BufferedReader | io.FileIO, stretches: list[Range]) -> bytearray:
    """The stretches of a local file, read into one buffer."""
    buffer = bytearray(sum(s.length for s in stretches))
    view, at = memoryview(buffer), 0
    for stretch in stretches:
        ref.seek(stretch.offset)
        end = at + stretch.length
        while at < end:
            got = ref.readinto(view[at:end])
            if not got:
                raise DiffError("zstd-segmented: the reference is shorter than it was")
            at += got
    view.release()
    return buffer


def _another_size() -> DiffError:
    return DiffError(
        "zstd-segmented decode failed: the reference is not the one it was made against "
        "(another size)"
    )
