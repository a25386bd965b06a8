"""A memory budget for parallel transfers: each reserves its estimated peak before it
starts, so however many workers run, what they hold together stays within the budget.

A count of workers does not bound memory: ten downloads of small files hold little, ten
rebuilds of large archives hold gigabytes. So a transfer waits until its estimate fits
beside those running; one whose estimate is above the whole budget runs alone (it waits
for the others to finish, and nothing starts beside it), so nothing waits forever.
Waiters are served first come, first served: a large transfer is not starved by a
stream of small ones. A reservation is released however the transfer ends (success,
failure, Ctrl-C); a waiter polls `check` (the service's interruption) so that Ctrl-C
stops it too.

The estimates are of the process's extra memory while the transfer runs, by what it
does with its bytes (DeltaPolicy decides that from the name and size):
  - a copy (stored whole): streamed through buffers and parts in flight, the same
    whatever the size;
  - a raw delta (zstd or xdelta3): the codec holds the reference and a window as large
    as the file;
  - a container rebuilt (a zip, wheel, jar or .tar.gz by its content): the content
    inflated and re-deflated, several times the compressed size.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from deltaglider.core.policy import DeltaPolicy

MIB = 1024 * 1024
DEFAULT_MAX_MEMORY_MB = 1024
STREAMED = 64 * MIB  # a copy: buffers and the parts in flight (s3.py's transfer config)
RAW_DELTA = 2.5  # of the file's size: the reference, the file's window, the output buffer
# Segments' worth held by a segmented delta's encode or decode: a segment, its
# stretches, zstd's copy of them, the one handed on; on a download from a store's
# ranges, three more segments' stretches fetched ahead (adapters/zstd_stretches.py):
# 1 GB second version from Ceph, 384 MB of peak RSS.
SEGMENTED = 8
SEGMENTS = 8  # in `segmented_above` (core/policy.py)
CONTAINER = 8.0  # of the file's size: its content inflated, rebuilt and re-deflated
CONTAINER_SUFFIXES = (".zip", ".jar", ".war", ".ear", ".whl", ".egg", ".nupkg", ".xpi",
                      ".aar", ".tar.gz", ".tgz", ".gz", ".vsix", ".crx", ".apk")  # fmt: skip
POLL = 0.1  # seconds between a waiter's checks for Ctrl-C


def estimate(policy: DeltaPolicy, name: str, size: int) -> int:
    """The extra bytes a transfer of this file is expected to hold at its peak."""
    if not policy.should_use_delta(name, size):
        return STREAMED
    if name.lower().endswith(CONTAINER_SUFFIXES):
        return STREAMED + int(CONTAINER * size)
    if 2 * size > policy.segmented_above:
        # zstd-segmented: segments, the stretches of the reference they match and
        # zstd's tables, whatever the file's size
        return STREAMED + SEGMENTED * policy.segmented_above // SEGMENTS
    return STREAMED + int(RAW_DELTA * size)


class MemoryBudget:
    """Bytes reserved by running transfers, never more than `limit` together (a single
    reservation above `limit` takes the whole budget, and so runs alone)."""

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("a memory budget must be positive")
        self.limit = limit
        self._held = 0
        self._changed = threading.Condition()
        self._tickets = itertools.count()
        self._serving = 0  # the ticket whose turn it is to reserve
        self._given_up: set[int] = set()  # tickets of waiters stopped before their turn
        self.peak = 0  # the most held at once (for tests and reports)

    @property
    def held(self) -> int:
        with self._changed:
            return self._held

    @contextmanager
    def reserved(self, amount: int, check: Callable[[], None] | None = None) -> Iterator[int]:
        """Hold `amount` (at most the whole budget) while the block runs; wait for it,
        in turn, first. `check` is called while waiting: whatever it raises (Ctrl-C)
        stops the wait, with nothing held."""
        take = max(0, min(amount, self.limit))
        with self._changed:
            ticket = next(self._tickets)
            try:
                while ticket != self._serving or self._held + take > self.limit:
                    self._changed.wait(POLL)
                    if check is not None:
                        check()
            except BaseException:
                self._give_up(ticket)
                raise
            self._held += take
            self.peak = max(self.peak, self._held)
            self._next_turn()
        try:
            yield take
        finally:
            with self._changed:
                self._held -= take
                self._changed.notify_all()

    def _give_up(self, ticket: int) -> None:
        """A waiter that stops leaves the queue: if its turn had come it passes on, if
        not its ticket is skipped when its turn comes."""
        if ticket == self._serving:
            self._next_turn()
        else:
            self._given_up.add(ticket)
            self._changed.notify_all()

    def _next_turn(self) -> None:
        self._serving += 1
        while self._serving in self._given_up:
            self._given_up.discard(self._serving)
            self._serving += 1
        self._changed.notify_all()
