"""DeltaService: the use cases (put, get, verify, head, delete, copy, list, stats).

It drives the parts that each hold one concept: the references of each DeltaSpace
(core/references.py), encoding and decoding (core/encoding.py), and the logical view
with its listing index (core/catalog.py). Every rebuilt file is checked against its
recorded SHA256 before it appears at its destination; every delta is decoded and
checked before it is stored.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from deltaglider.core.catalog import Catalog
from deltaglider.core.encoding import Content, Encoded, Encoder
from deltaglider.core.errors import (
    BucketNotEmpty,
    BucketNotFound,
    IntegrityError,
    InvalidKeyError,
    LocalFileError,
    ObjectChanged,
    ObjectNotFound,
    ReferenceMissing,
    StorageError,
)
from deltaglider.core.index import IndexEntry
from deltaglider.core.limits import KEY_LIMIT, fits_key
from deltaglider.core.listing import ListPage
from deltaglider.core.metadata import (
    DeltaMeta,
    DirectMeta,
    read_delta,
    read_direct,
    read_reference,
    stored_kind,
)
from deltaglider.core.models import (
    DELTA_SUFFIX,
    DeleteResult,
    GetResult,
    LogicalObject,
    ObjectKey,
    PutResult,
    SpaceStats,
    StoredAs,
    VerifyResult,
    is_internal_key,
)
from deltaglider.core.policy import DeltaPolicy, is_reserved_name
from deltaglider.core.references import References
from deltaglider.core.scratch import scratch_dir
from deltaglider.ports import (
    BucketInfo,
    BucketPort,
    CachePort,
    ClockPort,
    CommonPrefix,
    ContainerPort,
    DiffPort,
    HashPort,
    LoggerPort,
    MetricsPort,
    ObjectInfo,
    StoragePort,
)

REFERENCE_ATTEMPTS = 5  # tries to settle a delta's reference while others change them
READ_ATTEMPTS = 5  # reads of a key that keeps being overwritten while it is read


@dataclass(frozen=True)
class _Upload:
    """A local file on its way into the store, with what was learnt of it up front."""

    source: Path
    dest: ObjectKey
    sha256: str
    size: int
    mtime: datetime


@dataclass(frozen=True)
class _StoredDelta:
    """A delta just stored, not yet confirmed: the reference it needs, and its ETag."""

    result: PutResult
    etag: str
    ref_key: str
    ref_sha256: str


class _Contended(Exception):
    """Another writer changed the DeltaSpace's references under this upload: try again."""


@dataclass(frozen=True)
class _Stored:
    """Where a logical object lives in the store."""

    stored_as: StoredAs
    info: ObjectInfo


@dataclass(frozen=True)
class _Rebuilt:
    """A logical object's bytes written to a local file, with the SHA256s to compare."""

    expected_sha256: str | None  # None: a plain object with no recorded SHA256
    actual_sha256: str
    size: int
    mtime: datetime  # the stored object's time, given to the file as aws does


class DeltaService:
    """Stores files as deltas against a per-DeltaSpace reference, and rebuilds them."""

    def __init__(
        self,
        *,
        storage: StoragePort,
        buckets: BucketPort,
        diff: DiffPort,
        hasher: HashPort,
        cache: CachePort,
        clock: ClockPort,
        logger: LoggerPort,
        metrics: MetricsPort,
        policy: DeltaPolicy,
        tool: str,
        codecs: Mapping[str, DiffPort] | None = None,
        containers: Mapping[str, ContainerPort] | None = None,
    ) -> None:
        """`diff` encodes new deltas; `codecs` (by name) also decode the deltas others
        made; `containers` (by kind) unwrap compressed files for their deltas."""
        self.storage = storage
        self.buckets = buckets
        self.hasher = hasher
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.policy = policy
        self.tool = tool
        self.catalog = Catalog(storage=storage, logger=logger)
        self.references = References(
            storage=storage,
            catalog=self.catalog,
            cache=cache,
            hasher=hasher,
            clock=clock,
            logger=logger,
            metrics=metrics,
            tool=tool,
        )
        self.encoder = Encoder(
            diff=diff,
            codecs=codecs or {},
            containers=containers or {},
            hasher=hasher,
            policy=policy,
            logger=logger,
            tool=tool,
        )

    # ----------------------------------------------------------------- put

    def put(self, source: Path, dest: ObjectKey, *, no_delta: bool = False) -> PutResult:
        """Store a local file under `dest`, as a delta when that pays, else as itself."""
        started = time.monotonic()
        name = dest.name
        if is_reserved_name(name) and not fits_key(dest.delta_key):
            raise InvalidKeyError(
                f"key too long for DeltaGlider to store this name ({name} is kept as "
                f"{name}{DELTA_SUFFIX}, within S3's {KEY_LIMIT:,}-byte keys)"
            )
        with scratch_dir() as work:
            upload = self._spool(source, dest, work)
            wants_delta = (
                not no_delta
                and self.policy.should_use_delta(name, upload.size)
                and dest.fits_delta  # else stored whole: as a delta it would not fit S3's keys
            )
            result = None
            if wants_delta:
                try:
                    result = self._put_delta(upload, work)
                except BucketNotFound:  # found looking for references: say it as S3 would
                    raise BucketNotFound(dest.bucket, "PutObject") from None
            if result is None:
                result = self._put_direct(upload, tried_delta=wants_delta)
        self.metrics.increment(f"put.{result.stored_as.value}")
        self.metrics.timing("put", time.monotonic() - started)
        return result

    def _spool(self, source: Path, dest: ObjectKey, work: Path) -> _Upload:
        """Copy the file into the private work directory, hashing what is written: all
        that follows reads that copy, so what is stored is exactly what was hashed."""
        try:
            before = source.stat()
        except OSError as exc:
            raise LocalFileError(f"cannot read {source}: {exc.strerror}") from None
        if not stat.S_ISREG(before.st_mode):
            raise LocalFileError(f"not a regular file: {source}")
        spool = work / "upload"
        sha256 = self.hasher.copy_sha256(source, spool)
        size = spool.stat().st_size
        try:
            after = source.stat()
        except OSError as exc:
            raise LocalFileError(f"cannot read {source}: {exc.strerror}") from None
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or (
            size != before.st_size
        ):
            raise LocalFileError(
                f"{source} changed while it was being read: nothing was stored "
                "(upload it once it is complete)"
            )
        mtime = datetime.fromtimestamp(before.st_mtime, UTC)
        return _Upload(spool, dest, sha256, size, mtime)

    def _put_delta(self, upload: _Upload, work: Path) -> PutResult | None:
        """Store a file as a delta; None when it is better stored whole.

        After the delta is stored, its reference is confirmed (gc_lock.py says why that
        makes removing unused references safe); a reference that went meanwhile means
        another attempt, against what the DeltaSpace holds now.
        """
        space = upload.dest.delta_space
        content = self.encoder.unwrap(upload.source, upload.dest.name, work)
        for attempt in range(REFERENCE_ATTEMPTS):
            if attempt:
                self.references.forget(space)
                time.sleep(0.05 * attempt)  # a racing writer's object may still land
            try:
                stored = self._attempt_delta(upload, content, work)
            except _Contended:
                continue
            if stored is None:
                return None
            if self.references.still_there(space, stored.ref_key, stored.ref_sha256):
                self._settle_delta(upload, stored)
                return stored.result
            self.logger.debug(
                "%s went away under %s: uploading it again", stored.ref_key, upload.dest
            )
        self.storage.delete(upload.dest.bucket, upload.dest.delta_key)  # it names no reference
        raise StorageError(f"{space}: its references kept changing while uploading {upload.dest}")

    def _attempt_delta(
        self, upload: _Upload, content: Content | None, work: Path
    ) -> _StoredDelta | None:
        """One try at storing the file as a delta against the DeltaSpace's current
        reference: the delta stored, or None when the file is better stored whole;
        _Contended when another writer got in the way.

        A DeltaSpace without a reference gets this file as its reference, written
        create-only: of uploaders racing to create it, one wins and the others delta
        against the winner's. A file whose delta is poor next to the DeltaSpace's usual
        ones starts a new reference (DeltaPolicy.starts_new_reference).
        """
        space = upload.dest.delta_space
        ref_info = self.references.current(space, upload.dest.name)
        if ref_info is None:  # this file becomes the DeltaSpace's first reference
            # The reference is written only once its delta exists (nothing is stored on
            # a failure), and only if nobody else wrote one meanwhile.
            own = self.encoder.self_delta(upload.source, upload.sha256, content, work)
            key = self.references.first_key(space, upload.sha256)
            if not self.references.create(space, key, *_as_reference(upload)):
                raise _Contended
            return self._store_delta(upload, own, key, upload.sha256, "reference created")
        reference = read_reference(ref_info.metadata)
        try:
            ref_path = self.references.fetch(
                space.bucket, ref_info.key, reference.sha256, work / "reference.bin"
            )
        except ReferenceMissing:  # removed since this process listed it
            raise _Contended from None
        encoded = self.encoder.encode(ref_path, upload.source, upload.sha256, content, work)
        ratio = encoded.size / upload.size if upload.size else 0.0
        usual = self.references.usual_ratio(space, ref_info.key, reference.name)
        if self.policy.starts_new_reference(ratio, usual):
            self.logger.debug(
                "delta of %s is %.1f%% of it (usual %s): it becomes a new reference",
                upload.dest, 100 * ratio, "-" if usual is None else f"{100 * usual:.1f}%",
            )  # fmt: skip
            own = self.encoder.self_delta(upload.source, upload.sha256, content, work)
            key = space.named_reference_key(upload.sha256)
            if self.references.create(space, key, *_as_reference(upload)):
                return self._store_delta(upload, own, key, upload.sha256, "new reference")
        elif not self.policy.keeps_delta(encoded.size, upload.size):
            self.logger.debug(
                "delta of %s is %d of %d bytes, above the ratio %.2f: storing it whole",
                upload.dest, encoded.size, upload.size, self.policy.max_ratio,
            )  # fmt: skip
            return None
        return self._store_delta(upload, encoded, ref_info.key, reference.sha256, "delta")

    def _store_delta(
        self, upload: _Upload, encoded: Encoded, ref_key: str, ref_sha256: str, reason: str
    ) -> _StoredDelta:
        dest, content = upload.dest, encoded.content
        meta = DeltaMeta(
            name=dest.name,
            sha256=upload.sha256,
            size=upload.size,
            mtime=upload.mtime,
            created_at=self.clock.now(),
            ref_key=ref_key,
            ref_sha256=ref_sha256,
            delta_size=encoded.size,
            codec=self.encoder.codec,
            tool=self.tool,
            container=content.container.kind if content else None,
            recipe=content.recipe if content else None,
        )
        etag = self.storage.upload(
            dest.bucket, dest.delta_key, encoded.path, meta.to_metadata(dest.delta_key)
        )
        self.catalog.note_stored(dest.bucket, dest.delta_key, present=True)
        stored = PutResult(
            key=dest,
            stored_as=StoredAs.DELTA,
            stored_key=dest.delta_key,
            file_size=upload.size,
            file_sha256=upload.sha256,
            stored_size=encoded.size,
            created_reference=reason != "delta",
            reason=reason,
        )
        return _StoredDelta(stored, etag, ref_key, ref_sha256)

    def _settle_delta(self, upload: _Upload, stored: _StoredDelta) -> None:
        """A confirmed delta goes into the listing index, and replaces the direct form."""
        dest = upload.dest
        ref_name = stored.ref_key.rsplit("/", 1)[-1]
        entry = IndexEntry(
            stored.etag, upload.size, upload.mtime, ref_name, stored.result.stored_size
        )
        self.catalog.record(dest.delta_space, dest.delta_key, entry)
        if not is_reserved_name(dest.name):  # a reserved name's own key is never the user's
            self._delete_if_present(dest.bucket, dest.key)

    def _put_direct(self, upload: _Upload, *, tried_delta: bool) -> PutResult:
        """Store the file as itself: under its own key, or, for a reserved name (which
        would read as an internal object there), under `{key}.delta` marked direct."""
        dest = upload.dest
        meta = DirectMeta(
            dest.name, upload.sha256, upload.size, upload.mtime, self.clock.now(), self.tool
        )
        reserved = is_reserved_name(dest.name)
        key = dest.delta_key if reserved else dest.key
        etag = self.storage.upload(dest.bucket, key, upload.source, meta.to_metadata())
        self.catalog.note_stored(dest.bucket, key, present=True)
        if reserved:  # indexed like a delta, so that listings need no HEAD for it
            self.catalog.record(dest.delta_space, key, IndexEntry(etag, upload.size, upload.mtime))
        elif self.catalog.exists(dest.bucket, dest.delta_key):  # an earlier version was a delta
            self.storage.delete(dest.bucket, dest.delta_key)
            self.catalog.note_stored(dest.bucket, dest.delta_key, present=False)
            self.catalog.record(dest.delta_space, dest.delta_key, None)
        return PutResult(
            key=dest,
            stored_as=StoredAs.DIRECT,
            stored_key=key,
            file_size=upload.size,
            file_sha256=upload.sha256,
            stored_size=upload.size,
            created_reference=False,
            reason="delta too large" if tried_delta else "not a delta candidate",
        )

    # ----------------------------------------------------------------- get / verify

    def get(self, source: ObjectKey, dest: Path) -> GetResult:
        """Rebuild a logical object into `dest`; nothing reaches `dest` unverified.

        A regular file (or a new path) gets the bytes in a temporary file beside it,
        renamed into place after their SHA256 matched. A device, FIFO or socket at `dest`
        is written in place, as `aws s3 cp` does (a rename would replace `/dev/null` with
        a file): the bytes are rebuilt and checked in a private scratch directory, then
        copied out. On any failure `dest` is left as it was and receives nothing.
        """
        started = time.monotonic()
        stored = self._find(source)
        if _is_device_or_pipe(dest):
            with scratch_dir() as work:
                stored, rebuilt = self._read(source, stored, work / "rebuilt")
                _check(source, rebuilt)
                _copy_into(work / "rebuilt", dest)
        else:
            stored, rebuilt = self._get_file(source, stored, dest)
        self.metrics.increment(f"get.{stored.stored_as.value}")
        self.metrics.timing("get", time.monotonic() - started)
        return GetResult(source, stored.stored_as, rebuilt.size, rebuilt.expected_sha256)

    def _get_file(self, source: ObjectKey, stored: _Stored, dest: Path) -> tuple[_Stored, _Rebuilt]:
        """Rebuild into a temporary file beside `dest`; rename it into place once checked."""
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LocalFileError(f"cannot create {dest.parent}: {exc.strerror}") from None
        temp = dest.parent / f".{dest.name}.dg-tmp-{secrets.token_hex(4)}"
        try:
            stored, rebuilt = self._read(source, stored, temp)
            _check(source, rebuilt)
            stamp = rebuilt.mtime.timestamp()
            os.utime(temp, (stamp, stamp))
            os.replace(temp, dest)
        except OSError as exc:
            raise LocalFileError(f"cannot write {dest}: {exc.strerror}") from None
        finally:
            temp.unlink(missing_ok=True)
        return stored, rebuilt

    def verify(self, source: ObjectKey) -> VerifyResult:
        """Rebuild an object in a scratch directory and compare SHA256s; keep nothing."""
        stored = self._find(source)
        with scratch_dir() as work:
            _, rebuilt = self._read(source, stored, work / "rebuilt")
        return VerifyResult(source, rebuilt.expected_sha256, rebuilt.actual_sha256)

    def _read(self, source: ObjectKey, stored: _Stored, out: Path) -> tuple[_Stored, _Rebuilt]:
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
            stored = self._find(source)
        raise AssertionError("unreachable")

    def _rebuild(self, source: ObjectKey, stored: _Stored, out: Path) -> _Rebuilt:
        """Write the object's bytes to `out`; the caller compares the SHA256s."""
        info = stored.info
        version = info.etag or None
        if stored.stored_as is StoredAs.DIRECT:
            self.storage.download(source.bucket, info.key, out, if_match=version)
            direct = read_direct(info.metadata)
            expected = direct.sha256 if direct else None
        else:
            meta = read_delta(info.metadata, info.key)
            with scratch_dir() as work:
                self._decode(source, meta, info.key, version, out, work)
            expected = meta.sha256
        actual = self.hasher.file_sha256(out)
        return _Rebuilt(expected, actual, out.stat().st_size, info.last_modified)

    def _decode(
        self,
        source: ObjectKey,
        meta: DeltaMeta,
        delta_key: str,
        version: str | None,
        out: Path,
        work: Path,
    ) -> None:
        """Rebuild a delta's file into `out`. The delta is read only in `version` (the
        ETag its metadata came with); the reference needs no such guard, as it is checked
        against the SHA256 the delta records."""
        self.encoder.check_decodable(meta, str(source))
        delta = work / "object.delta"  # first: a changed delta needs no reference fetched
        self.storage.download(source.bucket, delta_key, delta, if_match=version)
        reference = self.references.fetch(
            source.bucket, meta.ref_key, meta.ref_sha256, work / "reference.bin"
        )
        self.encoder.decode(meta, reference, delta, out, work)

    def head(self, key: ObjectKey) -> LogicalObject:
        """A logical object's name, size and time, without rebuilding it."""
        stored = self._find(key)
        logical = self.catalog.logical(key.bucket, stored.info, head=stored.info)
        assert logical is not None  # _locate never returns a reference
        return logical

    def _locate(self, key: ObjectKey) -> _Stored:
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
                return _Stored(StoredAs.DIRECT if whole else stored_as, info)
        raise ObjectNotFound(key.bucket, key.key)  # aws says this for a missing bucket too

    def _find(self, key: ObjectKey) -> _Stored:
        """`_locate`, looking twice before calling a key absent. A put that moves a key
        between `K` and `K.delta` stores the new form before removing the old, so a key
        that exists throughout is missed by one look only when such a move came between
        its two HEADs; missing it twice takes two moves within one read."""
        try:
            return self._locate(key)
        except ObjectNotFound:
            return self._locate(key)

    def copy(self, source: ObjectKey, dest: ObjectKey, *, no_delta: bool = False) -> PutResult:
        """Copy a logical object to another key (any bucket): rebuild, then store anew."""
        with scratch_dir() as work:
            local = work / source.name
            self.get(source, local)
            return self.put(local, dest, no_delta=no_delta)

    # ----------------------------------------------------------------- delete

    def delete(self, key: ObjectKey) -> DeleteResult:
        """Delete a logical object. Its reference stays: references no delta uses are
        removed by garbage collection (core/gc.py), never beside an upload that may be
        making a delta against them.

        Like an S3 DELETE, deleting a key that is not there succeeds (and deletes nothing).
        """
        try:
            stored = self._locate(key)
        except ObjectNotFound:
            if not self.buckets.bucket_exists(key.bucket):
                raise BucketNotFound(key.bucket, "DeleteObject") from None
            return DeleteResult(key, None)
        self.storage.delete(key.bucket, stored.info.key)
        self.catalog.note_stored(key.bucket, stored.info.key, present=False)
        if stored.info.key.endswith(DELTA_SUFFIX):
            self.catalog.record(key.delta_space, stored.info.key, None)
        self.metrics.increment("delete")
        return DeleteResult(key, stored.info.key)

    def _delete_if_present(self, bucket: str, key: str) -> None:
        if self.catalog.exists(bucket, key):
            self.storage.delete(bucket, key)
            self.catalog.note_stored(bucket, key, present=False)

    # ----------------------------------------------------------------- buckets

    def list_buckets(self) -> Iterator[BucketInfo]:
        return self.buckets.list_buckets()

    def make_bucket(self, bucket: str) -> None:
        self.buckets.create_bucket(bucket)

    def remove_bucket(self, bucket: str) -> None:
        """Remove an empty bucket; a bucket holding only references and indexes counts as
        empty (they would be garbage without their deltas)."""
        stored = [e for e in self.storage.list(bucket, "") if isinstance(e, ObjectInfo)]
        if any(not is_internal_key(entry.key) for entry in stored):
            raise BucketNotEmpty(bucket)
        for entry in stored:
            self.storage.delete(bucket, entry.key)
        self.buckets.delete_bucket(bucket)

    # ----------------------------------------------------------------- the logical view

    def list(
        self, bucket: str, prefix: str = "", *, recursive: bool = False, start_after: str = ""
    ) -> Iterator[LogicalObject | CommonPrefix]:
        """The logical view (see Catalog.list)."""
        return self.catalog.list(bucket, prefix, recursive=recursive, start_after=start_after)

    def list_page(
        self,
        bucket: str,
        prefix: str = "",
        *,
        recursive: bool = False,
        start_after: str = "",
        max_keys: int = 1000,
    ) -> ListPage:
        """One page of the logical view (see Catalog.list_page)."""
        return self.catalog.list_page(
            bucket, prefix, recursive=recursive, start_after=start_after, max_keys=max_keys
        )

    def stats(self, bucket: str, prefix: str = "") -> Sequence[SpaceStats]:
        return self.catalog.stats(bucket, prefix)

    def batch(self) -> AbstractContextManager[None]:
        """One command's worth of operations (see Catalog.batch)."""
        return self.catalog.batch()


def _as_reference(upload: _Upload) -> tuple[Path, str, str, int]:
    """What a reference made from an upload records: its bytes, name, SHA256, size."""
    return upload.source, upload.dest.name, upload.sha256, upload.size


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
