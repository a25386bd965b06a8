"""Streams in: a body of known or unknown length, read once, hashed as it is kept.

Everything an upload needs to know of its bytes (size, SHA256, MD5) is computed from
what was read, never from the source again; and everything stored afterwards comes
from this copy, so what is stored is exactly what was hashed, whatever the source does
meanwhile. Small bodies stay in memory; larger ones go to a private scratch file. A
large local file is not copied (`spool_file`): it is read again where it is, and every
store of it checks, before publishing, that it has not changed.

The SHA256 is needed before anything is stored (it names and guards the reference) and
keeps pace with the read. The MD5 (the ETag) is needed only once the upload is done, and
is slower (on this class of machine 0.75 GB/s against SHA256's 1.8): a thread of its
own hashes the scratch file behind the writer at its own pace, so a large body's MD5 is
finished while its reference uploads instead of before (core/trailing.py).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from deltaglider.core import progress
from deltaglider.core.errors import IncompleteBody
from deltaglider.core.scratch import scratch_dir
from deltaglider.core.trailing import TrailingDigest

CHUNK = 4 * 1024 * 1024
IN_THREAD_ABOVE = 8 * 1024 * 1024  # bodies whose SHA256 a thread computes beyond this
IN_MEMORY = 1024 * 1024  # bodies up to this size are never written to disk


@dataclass(frozen=True)
class Spooled:
    """A body read and hashed: in memory (`data`), or in `work/body`."""

    size: int
    sha256: str
    md5_of: Callable[[], str] = field(repr=False)  # waits for the MD5, hex, when hashing
    data: bytes | None
    work: Path  # the private scratch directory the copy lives in
    # A large local file read where it is, not copied (`spool_file`), and what raises
    # when it is no longer the bytes hashed: given to every store of it.
    file: Path | None = None
    unchanged: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def md5(self) -> str:
        return self.md5_of()

    @property
    def etag(self) -> str:
        """The ETag S3 gives these bytes in a single PUT: their MD5."""
        return self.md5_of()

    def source(self) -> Path | bytes:
        """The bytes as a store's upload takes them."""
        return self.data if self.data is not None else self.path()

    def path(self) -> Path:
        """A file holding the bytes (a body held in memory is written out on first use,
        for the codecs, which read files)."""
        if self.file is not None:
            return self.file
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
    in_memory: int = IN_MEMORY,
    check: Callable[[], None] | None = None,
) -> Iterator[Spooled]:
    """Read `body` to its end, hashing it; the copy is removed on the way out.

    `size`, when the sender declared one, must be what arrives (else IncompleteBody, as
    S3 answers a body cut short). Bodies above `in_memory` bytes (or any body when it
    is 0) are written to a private scratch file as they arrive. `check` is called
    between chunks: it raises to stop the read (Ctrl-C).
    """
    with (
        scratch_dir() as work,
        _Sha256() as sha256,
        TrailingDigest(work / "body", "md5") as md5,
    ):
        buffer = io.BytesIO()
        out: BinaryIO = buffer
        total = reported = 0  # bytes read, and on disk for the MD5 thread to read back
        for chunk in _chunks(body):
            if check is not None:
                check()
            sha256.update(chunk)
            progress.advance(len(chunk))
            total += len(chunk)
            if out is buffer and total > in_memory:  # too large to keep: on to disk
                out = md5.path.open("wb")
                out.write(buffer.getvalue())
                buffer = io.BytesIO()
            out.write(chunk)  # while the SHA256 thread works on it
            if out is not buffer and total - reported >= CHUNK:  # not for every small chunk
                out.flush()
                md5.written(reported, total)
                reported = total
        on_disk = out is not buffer
        if on_disk:
            out.close()
        elif in_memory == 0:
            md5.path.write_bytes(buffer.getvalue())
            on_disk = True
        if on_disk:
            md5.written(reported, total)
        if size is not None and total != size:
            raise IncompleteBody(size, total)
        data = None if on_disk else buffer.getvalue()
        md5_of = _known(hashlib.md5(data).hexdigest()) if data is not None else md5.finished(total)
        yield Spooled(total, sha256.hexdigest(), md5_of, data, work)


@contextmanager
def spool_file(
    path: Path, unchanged: Callable[[], None], *, check: Callable[[], None] | None = None
) -> Iterator[Spooled]:
    """A local file read once and hashed where it is, not copied (a gigabyte less
    written). What is stored is read from the file again, so every store of it calls
    `unchanged` after its last read and before publishing (StoragePort.upload), and
    `unchanged` raises once the file is not what was hashed: a file written to
    meanwhile is stored nowhere. The MD5 is read back from the file behind the read."""
    with (
        scratch_dir() as work,
        _Sha256() as sha256,
        TrailingDigest(path, "md5") as md5,
        path.open("rb") as stream,
    ):
        total = 0
        while chunk := stream.read(CHUNK):
            if check is not None:
                check()
            sha256.update(chunk)
            progress.advance(len(chunk))
            md5.written(total, total + len(chunk))
            total += len(chunk)
        md5_of = md5.finished(total)
        yield Spooled(total, sha256.hexdigest(), md5_of, None, work, path, unchanged)


class _Sha256:
    """The SHA256 of a stream, each chunk beyond the first IN_THREAD_ABOVE bytes hashed
    by a thread of its own (hashlib lets go of the GIL on large buffers) while the
    caller writes it; at most two chunks in memory."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None
        self._seen = 0

    def __enter__(self) -> _Sha256:
        return self

    def __exit__(self, *_: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def update(self, chunk: bytes) -> None:
        self._settle()
        self._seen += len(chunk)
        if self._seen <= IN_THREAD_ABOVE:
            self._hash.update(chunk)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1)
        self._pending = self._pool.submit(self._hash.update, chunk)

    def hexdigest(self) -> str:
        self._settle()
        return self._hash.hexdigest()

    def _settle(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None


def _known(value: str) -> Callable[[], str]:
    return lambda: value


def _chunks(body: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    read = getattr(body, "read", None)
    if read is None:
        yield from (bytes(chunk) for chunk in body if chunk)
        return
    while chunk := read(CHUNK):
        yield chunk
