"""A digest of a file while it is being written, computed behind the writer.

A large body's digest costs a read of it at hashing speed (SHA256 1.8 GB/s, MD5 0.75
GB/s on this class of machine). Computed after the file is complete, that read adds to
every upload's spool and every reference's download; computed by a thread of its own
that reads the file back from the page cache as far as it is written, it overlaps the
writing and is done (or nearly) when the writer is. Writers may fill the file in any
order (parts side by side): the thread hashes the longest prefix written so far.
That prefix (WrittenPrefix) also lets a reader use the start of a file still being
downloaded: a delta's decode reads its reference's stretches as they land.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

READ = 4 * 1024 * 1024


class WrittenPrefix:
    """How much of a file, written in ranges in any order (parts side by side, some
    twice), is complete from its start; and a wait for a given length of it. The
    writer reports each range (`written`), then the file's size (`finished`) or its
    failure (`failed`), which wake whoever waits."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self._pending: list[tuple[int, int]] = []  # a heap of (start, end) beyond the prefix
        self.length = 0  # bytes written from the start without a gap
        self.total: int | None = None
        self._failed = False

    def written(self, start: int, end: int) -> None:
        """Bytes `start` to `end` (exclusive) are in the file now."""
        with self.changed:
            if end > start:
                heapq.heappush(self._pending, (start, end))
            while self._pending and self._pending[0][0] <= self.length:  # overlaps too
                self.length = max(self.length, heapq.heappop(self._pending)[1])
            self.changed.notify_all()

    def finished(self, total: int) -> None:
        """The file is complete at `total` bytes."""
        with self.changed:
            self.total = total
            self.changed.notify_all()

    def failed(self) -> None:
        """The writer gave up: waits end (Unwritten)."""
        with self.changed:
            self._failed = True
            self.changed.notify_all()

    def wait_for(self, length: int) -> None:
        """Return once the first `length` bytes are written; Unwritten when the file
        was finished shorter, or its writer failed."""
        with self.changed:
            while self.length < length:
                if self._failed:
                    raise Unwritten("the file's writer failed")
                if self.total is not None:
                    raise Unwritten(f"{length} bytes wanted of a file of {self.total}")
                self.changed.wait()


class Unwritten(OSError):
    """Bytes waited for will never be written."""


class TrailingDigest:
    """The `algorithm` digest (hex) of the file at `path`, hashed behind its writer.

    The writer reports each range it wrote (`written`), then the file's final size
    (`finished`, which gives the wait for the digest). Leaving the `with` block stops
    the thread, so that the file may go.
    """

    def __init__(self, path: Path, algorithm: str) -> None:
        self.path = path
        self._algorithm = algorithm
        self._prefix = WrittenPrefix()
        self._changed = self._prefix.changed
        self._stopped = False
        self._digest: Future[str] = Future()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> TrailingDigest:
        return self

    def __exit__(self, *_: object) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()

    def written(self, start: int, end: int) -> None:
        """Bytes `start` to `end` (exclusive) are in the file now."""
        with self._changed:
            self._prefix.written(start, end)
            if self._thread is None:  # under the lock: writers may be several threads
                self._thread = threading.Thread(target=self._follow, name="digest", daemon=True)
                self._thread.start()

    def finished(self, total: int) -> Callable[[], str]:
        """The file is complete at `total` bytes: the wait for its digest."""
        self._prefix.finished(total)
        self.written(0, 0)  # starts the thread for a file never reported (empty)
        return self._digest.result

    def _follow(self) -> None:
        digest, done = hashlib.new(self._algorithm), 0
        prefix = self._prefix
        try:
            # Unbuffered reads at explicit offsets: a buffered reader reads ahead, and
            # would keep the zeros of a part not yet written beyond the prefix.
            with self.path.open("rb", buffering=0) as file:
                while True:
                    with self._changed:
                        while not self._stopped and done == prefix.length != prefix.total:
                            self._changed.wait()
                        if done == prefix.total:
                            self._digest.set_result(digest.hexdigest())
                            return
                        if self._stopped:
                            raise InterruptedError(f"{self.path}: left before it was hashed")
                        available = prefix.length - done
                    block = os.pread(file.fileno(), min(READ, available), done)
                    if not block:
                        raise OSError(f"{self.path} is shorter than was written")
                    digest.update(block)
                    done += len(block)
        except BaseException as exc:  # handed to whoever waits for the digest
            self._digest.set_exception(exc)
