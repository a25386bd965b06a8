"""Reading logical objects: find the stored form, read one version of it, rebuild and
check it, then hand it out: to a local file, as a stream (whole or a byte range), or
nowhere (verify).

Nothing leaves unchecked: a delta is rebuilt (and a direct object downloaded) into a
private scratch file and its SHA256 compared with the one recorded at upload before a
byte reaches a destination or a stream. The stored object is read only in the version
whose metadata was read (If-Match on its ETag); an overwrite in between means reading
it again, never a false "corrupt".
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from deltaglider.core import scratch
from deltaglider.core.catalog import Catalog
from deltaglider.core.encoding import Encoder
from deltaglider.core.errors import (
    IntegrityError,
    LocalFileError,
    ObjectChanged,
    ObjectNotFound,
)
from deltaglider.core.interruption import Interruption
from deltaglider.core.limits import fits_key
from deltaglider.core.metadata import read_delta, read_direct, stored_kind
from deltaglider.core.models import (
    ByteRange,
    Description,
    GetResult,
    LogicalObject,
    ObjectKey,
    StoredAs,
    VerifyResult,
)
from deltaglider.core.policy import DeltaPolicy, is_reserved_name
from deltaglider.core.rebuild import DeltaRebuilder
from deltaglider.core.references import References
from deltaglider.core.scratch import scratch_dir
from deltaglider.ports import (
    HashPort,
    LoggerPort,
    MetricsPort,
    ObjectInfo,
    StoragePort,
)

READ_ATTEMPTS = 5  # reads of a key that keeps being overwritten while it is read
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Stored:
    """Where a logical object lives in the store, as one HEAD found it."""

    stored_as: StoredAs
    info: ObjectInfo


@dataclass(frozen=True)
class _Rebuilt:
    """A logical object's bytes written to a local file, with the SHA256s to compare."""

    expected_sha256: str | None  # None: a plain object with no recorded SHA256
    actual_sha256: str
    size: int
    mtime: datetime  # the stored object's time, given to the file as aws does


class ObjectStream:
    """A checked logical object (or a byte range of it), read as a stream: `read(n)`,
    iteration in chunks. `info` describes the whole object; `start`/`stop` the bytes
    this stream holds (stop exclusive)."""

    def __init__(self, info: LogicalObject, body: BinaryIO, start: int, stop: int) -> None:
        self.info = info
        self.start = start
        self.stop = stop
        self._body = body
        self._left = stop - start

    @property
    def content_length(self) -> int:
        return self.stop - self.start

    def read(self, size: int = -1) -> bytes:
        wanted = self._left if size < 0 else min(size, self._left)
        data = self._body.read(wanted)
        self._left -= len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk


class Reader:
    """Finds, reads and checks logical objects."""

    def __init__(
        self,
        *,
        storage: StoragePort,
        catalog: Catalog,
        references: References,
        encoder: Encoder,
        policy: DeltaPolicy,
        hasher: HashPort,
        logger: LoggerPort,
        metrics: MetricsPort,
        interruption: Interruption,
    ) -> None:
        self.storage = storage
        self.catalog = catalog
        self.references = references
        self.encoder = encoder
        self.policy = policy
        self.hasher = hasher
        self.logger = logger
        self.metrics = metrics
        self.interruption = interruption  # checked before anything reaches a destination
        self.deltas = DeltaRebuilder(
            storage=storage, references=references, encoder=encoder, logger=logger
        )

    @contextmanager
    def open(self, key: ObjectKey, byte_range: ByteRange | None = None) -> Iterator[ObjectStream]:
        """The logical object as a stream, rebuilt and checked first; with `byte_range`,
        only those bytes (InvalidRange when none of them is in the object)."""
        with scratch_dir() as work:
            stored, rebuilt = self._read(key, self.find(key), work / "rebuilt")
            _check(key, rebuilt)
            self.interruption.check()
            info = self.catalog.logical(key.bucket, stored.info, head=stored.info)
            assert info is not None  # find never returns an internal object
            start, stop = byte_range.resolve(rebuilt.size) if byte_range else (0, rebuilt.size)
            with (work / "rebuilt").open("rb") as body:
                body.seek(start)
                yield ObjectStream(info, body, start, stop)

    def get(self, source: ObjectKey, dest: Path) -> GetResult:
        """Rebuild a logical object into `dest`; nothing reaches `dest` unverified.

        A regular file (or a new path) gets the bytes in a temporary file beside it,
        renamed into place after their SHA256 matched. A device, FIFO or socket at `dest`
        is written in place, as `aws s3 cp` does (a rename would replace `/dev/null` with
        a file): the bytes are rebuilt and checked in a private scratch directory, then
        copied out. On any failure `dest` is left as it was and receives nothing.
        """
        started = time.monotonic()
        stored = self.find(source)
        if _is_device_or_pipe(dest):
            with scratch_dir() as work:
                stored, rebuilt = self._read(source, stored, work / "rebuilt")
                _check(source, rebuilt)
                self.interruption.check()
                _copy_into(work / "rebuilt", dest)
        else:
            stored, rebuilt = self._get_file(source, stored, dest)
        self.metrics.increment(f"get.{stored.stored_as.value}")
        self.metrics.timing("get", time.monotonic() - started)
        return GetResult(source, stored.stored_as, rebuilt.size, rebuilt.expected_sha256)

    def _get_file(self, source: ObjectKey, stored: Stored, dest: Path) -> tuple[Stored, _Rebuilt]:
        """Rebuild into a temporary file beside `dest`; rename it into place once checked."""
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LocalFileError(f"cannot create {dest.parent}: {exc.strerror}") from None
        temp = scratch.temp_beside(dest)
        try:
            stored, rebuilt = self._read(source, stored, temp)
            _check(source, rebuilt)
            stamp = rebuilt.mtime.timestamp()
            os.utime(temp, (stamp, stamp))
            self.interruption.check()
            os.replace(temp, dest)
        except OSError as exc:
            raise LocalFileError(f"cannot write {dest}: {exc.strerror}") from None
        finally:
            temp.unlink(missing_ok=True)
            scratch.untrack(temp)
        return stored, rebuilt

    def verify(self, source: ObjectKey) -> VerifyResult:
        """Rebuild an object in a scratch directory and compare SHA256s; keep nothing."""
        stored = self.find(source)
        with scratch_dir() as work:
            _, rebuilt = self._read(source, stored, work / "rebuilt")
        return VerifyResult(source, rebuilt.expected_sha256, rebuilt.actual_sha256)

    def _read(self, source: ObjectKey, stored: Stored, out: Path) -> tuple[Stored, _Rebuilt]:
        """Rebuild `source` into `out` from one version of its stored object.

        The stored object is downloaded only while it is the version whose HEAD gave its
        metadata (If-Match on that ETag). When a concurrent put overwrote or removed it
        in between (perhaps moving the key between `K` and `K.delta`), the key is found
        and read again: a read yields one version's bytes, never a false "corrupt".
        """
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return stored, self._rebuild(source, stored, out)
            except (ObjectChanged, ObjectNotFound):
                if attempt == READ_ATTEMPTS:
                    raise
                self.logger.debug("%s was overwritten while being read: reading it again", source)
            stored = self.find(source)
        raise AssertionError("unreachable")

    def _rebuild(self, source: ObjectKey, stored: Stored, out: Path) -> _Rebuilt:
        """Write the object's bytes to `out`; the caller compares the SHA256s."""
        info = stored.info
        version = info.etag or None
        if stored.stored_as is StoredAs.DIRECT:
            self.storage.download(source.bucket, info.key, out, if_match=version)
            direct = read_direct(info.metadata)
            expected = direct.sha256 if direct else None
            actual: str | None = None
        else:
            meta = read_delta(info.metadata, info.key)
            expected = meta.sha256
            actual = self.deltas.rebuild(source, meta, info, out)
        if actual is None:  # not hashed on the way: read back
            actual = self.hasher.file_sha256(out)
        return _Rebuilt(expected, actual, out.stat().st_size, info.last_modified)

    def head(self, key: ObjectKey) -> LogicalObject:
        """A logical object's size, time, ETag, Content-Type and user metadata, from its
        stored object's metadata, without rebuilding it."""
        stored = self.find(key)
        logical = self.catalog.logical(key.bucket, stored.info, head=stored.info)
        assert logical is not None  # find never returns an internal object
        return logical

    def describe(self, key: ObjectKey) -> Description:
        """How a logical object is stored, from its stored object's metadata (one HEAD of
        each form looked up), without rebuilding it."""
        stored = self.find(key)
        logical = self.catalog.logical(key.bucket, stored.info, head=stored.info)
        assert logical is not None  # find never returns an internal object
        if stored.stored_as is StoredAs.DELTA:
            meta = read_delta(stored.info.metadata, stored.info.key)
            return Description(logical, meta.sha256, meta.ref_key, meta.codec)
        direct = read_direct(stored.info.metadata)
        return Description(logical, direct.sha256 if direct else None)

    def locate(self, key: ObjectKey) -> Stored:
        """Find the stored form of a logical object: `{key}.delta` or `{key}` itself."""
        if is_reserved_name(key.name):
            candidates = [(StoredAs.DELTA, key.delta_key)]
        elif self.policy.should_use_delta(key.name, self.policy.min_size):
            candidates = [(StoredAs.DELTA, key.delta_key), (StoredAs.DIRECT, key.key)]
        else:
            candidates = [(StoredAs.DIRECT, key.key), (StoredAs.DELTA, key.delta_key)]
        for stored_as, stored_key in candidates:
            if not fits_key(stored_key):  # never stored; a HEAD of one is a 400 (Ceph)
                continue
            info = self.storage.head(key.bucket, stored_key)
            if info is not None:
                whole = stored_kind(info.metadata) == "direct"  # a reserved name, stored whole
                return Stored(StoredAs.DIRECT if whole else stored_as, info)
        raise ObjectNotFound(key.bucket, key.key)  # aws says this for a missing bucket too

    def find(self, key: ObjectKey) -> Stored:
        """`locate`, looking twice before calling a key absent. A put that moves a key
        between `K` and `K.delta` stores the new form before removing the old, so a key
        that exists throughout is missed by one look only when such a move came between
        its two HEADs; missing it twice takes two moves within one read."""
        try:
            return self.locate(key)
        except ObjectNotFound:
            return self.locate(key)


def _check(source: ObjectKey, rebuilt: _Rebuilt) -> None:
    if rebuilt.expected_sha256 not in (None, rebuilt.actual_sha256):
        raise IntegrityError(
            f"{source} rebuilt with SHA256 {rebuilt.actual_sha256}, "
            f"expected {rebuilt.expected_sha256}: the stored object is corrupt"
        )


def _is_device_or_pipe(path: Path) -> bool:
    """A character or block device, FIFO or socket: what s3transfer writes in place
    rather than replacing. A symlink is not followed (a download replaces the link)."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _copy_into(rebuilt: Path, dest: Path) -> None:
    """Write checked bytes into an existing device or FIFO, opened as it is (no create,
    no truncate)."""
    try:
        with rebuilt.open("rb") as source, open(os.open(dest, os.O_WRONLY), "wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)
    except OSError as exc:
        raise LocalFileError(f"cannot write {dest}: {exc.strerror}") from None
