"""Per-process state that stays bounded however long the process runs.

A command line lives for one command; the gateway and the Python client live for weeks
and touch any number of buckets and prefixes. What a service remembers between
operations (the references of a DeltaSpace, its listing index, whether a bucket honours
conditional writes, a lock per reference being fetched) lives in these two structures:
a small LRU map whose entries also expire, so that what other processes changed is seen
again, and a map of locks that forgets a lock once nobody holds or waits for it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class RecentMap(Generic[K, V]):
    """At most `limit` entries, each forgotten `ttl` seconds after it was stored (None:
    never); the least recently used goes first when full. Thread-safe."""

    def __init__(
        self,
        limit: int,
        ttl: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            stored_at, value = found
            if self.ttl is not None and self._clock() - stored_at > self.ttl:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = (self._clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)

    def setdefault(self, key: K, value: V) -> V:
        """The live value under `key`, or `value` stored there now."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None and (self.ttl is None or self._clock() - found[0] <= self.ttl):
                self._entries.move_to_end(key)
                return found[1]
        self.put(key, value)
        return value

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)


class KeyedLocks(Generic[K]):
    """One lock per key, created on first use and dropped when its last user leaves."""

    def __init__(self) -> None:
        self._locks: dict[K, tuple[threading.Lock, int]] = {}
        self._guard = threading.Lock()

    def __len__(self) -> int:
        return len(self._locks)

    @contextmanager
    def held(self, key: K) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)
