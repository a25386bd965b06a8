"""Streams in: a body of known or unknown length, read once, hashed as it is kept.

Everything an upload needs to know of its bytes (size, SHA256, MD5, and the MD5 of each
part when it came in parts) is computed while the body is read, never by reading it
again; and everything stored afterwards comes from this copy, so what is stored is
exactly what was hashed, whatever the source does meanwhile. Small bodies stay in
memory; larger ones go to a private scratch file.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from deltaglider.core import progress
from deltaglider.core.errors import IncompleteBody
from deltaglider.core.scratch import scratch_dir

CHUNK = 4 * 1024 * 1024
IN_THREADS_ABOVE = 8 * 1024 * 1024  # bodies hashed by threads beyond this many bytes
IN_MEMORY = 1024 * 1024  # bodies up to this size are never written to disk


@dataclass(frozen=True)
class Spooled:
    """A body read and hashed: in memory (`data`), or in `work/body`."""

    size: int
    sha256: str
    md5: str  # hex, of the whole body
    part_md5s: tuple[str, ...]  # hex, of each part when spooled in parts, else empty
    data: bytes | None
    work: Path  # the private scratch directory the copy lives in

    @property
    def etag(self) -> str:
        """The ETag S3 gives these bytes: their MD5 for a single PUT, the MD5 of the
        parts' MD5s and their count when they came as a multipart upload."""
        if len(self.part_md5s) < 2:
            return self.md5
        joined = hashlib.md5(b"".join(bytes.fromhex(part) for part in self.part_md5s))
        return f"{joined.hexdigest()}-{len(self.part_md5s)}"

    def source(self) -> Path | bytes:
        """The bytes as a store's upload takes them."""
        return self.data if self.data is not None else self.path()

    def path(self) -> Path:
        """A file holding the bytes (a body held in memory is written out on first use,
        for the codecs, which read files)."""
        file = self.work / "body"
        if self.data is not None and not file.exists():
            file.write_bytes(self.data)
        return file

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data) if self.data is not None else self.path().open("rb")


@contextmanager
def spool(
    body: BinaryIO | Iterable[bytes],
    *,
    size: int | None = None,
    part_size: int | None = None,
    in_memory: int = IN_MEMORY,
    check: Callable[[], None] | None = None,
) -> Iterator[Spooled]:
    """Read `body` to its end, hashing it; the copy is removed on the way out.

    `size`, when the sender declared one, must be what arrives (else IncompleteBody, as
    S3 answers a body cut short). `part_size` also hashes each part of that size, for
    the ETag of a multipart upload. Bodies above `in_memory` bytes (or any body when it
    is 0) are written to a private scratch file as they arrive. `check` is called
    between chunks: it raises to stop the read (Ctrl-C).
    """
    with scratch_dir() as work, _Hashers(part_size) as hashers:
        buffer = io.BytesIO()
        out: BinaryIO = buffer
        file: Path | None = None
        total = 0
        for chunk in _chunks(body):
            if check is not None:
                check()
            hashers.update(chunk)
            total += len(chunk)
            progress.advance(len(chunk))
            if file is None and total > in_memory:  # too large to keep: on to disk
                file = work / "body"
                out = file.open("wb")
                out.write(buffer.getvalue())
                buffer = io.BytesIO()
            out.write(chunk)  # while the hashers work on it
        sha256, md5, part_md5s = hashers.digests()
        if file is None and in_memory == 0:
            file = work / "body"
            file.write_bytes(buffer.getvalue())
        if out is not buffer:
            out.close()
        if size is not None and total != size:
            raise IncompleteBody(size, total)
        data = buffer.getvalue() if file is None else None
        yield Spooled(total, sha256, md5, part_md5s, data, work)


class _Hashers:
    """The SHA256, MD5 and part MD5s of a stream, each chunk hashed by two threads of
    their own (hashlib lets go of the GIL on large buffers) while the caller writes it:
    on two cores a body is hashed and kept in about the time of writing it. The first
    chunks, and small bodies, are hashed in the caller's thread."""

    def __init__(self, part_size: int | None) -> None:
        self._sha256, self._md5 = hashlib.sha256(), hashlib.md5()
        self._parts = _PartHasher(part_size)
        self._pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor] | None = None
        self._pending: list[Future[None]] = []
        self._seen = 0

    def __enter__(self) -> _Hashers:
        return self

    def __exit__(self, *_: object) -> None:
        if self._pools is not None:
            for pool in self._pools:
                pool.shutdown(wait=True, cancel_futures=True)

    def update(self, chunk: bytes) -> None:
        """Hash `chunk`; the previous chunk's hashing is waited for first (two chunks in
        memory at most)."""
        self._settle()
        self._seen += len(chunk)
        if self._seen <= IN_THREADS_ABOVE:
            self._sha256.update(chunk)
            self._md5_update(chunk)
            return
        if self._pools is None:
            self._pools = (ThreadPoolExecutor(1), ThreadPoolExecutor(1))
        self._pending = [
            self._pools[0].submit(self._sha256.update, chunk),
            self._pools[1].submit(self._md5_update, chunk),
        ]

    def digests(self) -> tuple[str, str, tuple[str, ...]]:
        self._settle()
        return self._sha256.hexdigest(), self._md5.hexdigest(), self._parts.digests()

    def _md5_update(self, chunk: bytes) -> None:
        self._md5.update(chunk)
        self._parts.update(chunk)

    def _settle(self) -> None:
        for pending in self._pending:
            pending.result()
        self._pending = []


def _chunks(body: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    read = getattr(body, "read", None)
    if read is None:
        yield from (bytes(chunk) for chunk in body if chunk)
        return
    while chunk := read(CHUNK):
        yield chunk


class _PartHasher:
    """The MD5 of each `part_size` bytes of a stream (nothing without a part size)."""

    def __init__(self, part_size: int | None) -> None:
        self.part_size = part_size
        self._done: list[str] = []
        self._current = hashlib.md5()
        self._filled = 0

    def update(self, chunk: bytes) -> None:
        if self.part_size is None:
            return
        while chunk:
            room = self.part_size - self._filled
            self._current.update(chunk[:room])
            self._filled += min(room, len(chunk))
            chunk = chunk[room:]
            if self._filled == self.part_size:
                self._done.append(self._current.hexdigest())
                self._current, self._filled = hashlib.md5(), 0

    def digests(self) -> tuple[str, ...]:
        if self.part_size is None:
            return ()
        last = [self._current.hexdigest()] if self._filled or not self._done else []
        return (*self._done, *last)
