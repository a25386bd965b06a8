"""CachePort in memory: least recently used entries go first once over the size limit."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path


class MemoryCache:
    """Entries as bytes, at most `limit_bytes` in all (DG_CACHE_MEMORY_SIZE_MB).

    An entry larger than the whole limit is not kept; the operation that offered it
    works all the same, it just fetches the reference again next time.
    """

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    @property
    def size_bytes(self) -> int:
        return self._size

    def holds(self, sha256: str) -> bool:
        return sha256 in self._entries

    def fetch(self, sha256: str, destination: Path) -> bool:
        with self._lock:
            data = self._entries.get(sha256)
            if data is None:
                return False
            self._entries.move_to_end(sha256)
        destination.write_bytes(data)
        return True

    def store(self, sha256: str, source: Path) -> None:
        if source.stat().st_size > self.limit_bytes:
            return
        data = source.read_bytes()
        with self._lock:
            self._drop(sha256)
            self._entries[sha256] = data
            self._size += len(data)
            while self._size > self.limit_bytes:
                self._drop(next(iter(self._entries)))

    def discard(self, sha256: str) -> None:
        with self._lock:
            self._drop(sha256)

    def _drop(self, sha256: str) -> None:
        data = self._entries.pop(sha256, None)
        if data is not None:
            self._size -= len(data)
