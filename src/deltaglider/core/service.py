"""DeltaService: the use cases (put, get, verify, delete, list, stats) over the ports."""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import statistics
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from deltaglider.core import gc_lock
from deltaglider.core.bounded import KeyedLocks, RecentMap
from deltaglider.core.errors import (
    AlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    DeltaGliderError,
    DiffError,
    DiffToolMissing,
    FormatError,
    IntegrityError,
    InvalidKeyError,
    LocalFileError,
    ObjectChanged,
    ObjectNotFound,
    ReferenceMissing,
    StorageError,
)
from deltaglider.core.index import FolderIndexes, IndexEntry, parse_index, render_index
from deltaglider.core.limits import KEY_LIMIT, fits_key
from deltaglider.core.listing import HOLD, Listed, ListPage, logical_order
from deltaglider.core.metadata import (
    DeltaMeta,
    DirectMeta,
    ReferenceMeta,
    read_delta,
    read_direct,
    read_reference,
    recipe_fits,
    stored_kind,
)
from deltaglider.core.models import (
    DELTA_SUFFIX,
    INDEX_NAME,
    PROBE_PREFIX,
    DeleteResult,
    DeltaSpace,
    GetResult,
    LogicalObject,
    ObjectKey,
    PutResult,
    SpaceStats,
    StoredAs,
    VerifyResult,
    folder_of,
    is_internal_key,
    is_reference_key,
    logical_key,
)
from deltaglider.core.policy import DRIFT_HISTORY, DeltaPolicy, is_reserved_name
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

REFERENCE_ATTEMPTS = 5  # tries to settle a new DeltaSpace's reference under contention
RECENT_REFERENCES = 8  # references of a DeltaSpace that new deltas may be made against
SPACES_REMEMBERED = 256  # DeltaSpaces (and buckets) whose references and index are kept
REMEMBERED_FOR = 60.0  # seconds before another process's new reference or index is seen


@dataclass(frozen=True)
class _Upload:
    """A local file on its way into the store, with what was learnt of it up front."""

    source: Path
    dest: ObjectKey
    sha256: str
    size: int
    mtime: datetime


@dataclass(frozen=True)
class _Content:
    """A container file's uncompressed content, and the proven recipe that rewraps it."""

    container: ContainerPort
    path: Path
    sha256: str
    recipe: str


@dataclass(frozen=True)
class _Encoded:
    """A delta checked to rebuild its file; `content` set when it is of the content."""

    path: Path
    size: int
    content: _Content | None


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


READ_ATTEMPTS = 5  # reads of a key that keeps being overwritten while it is read


class DeltaService:
    """Stores files as deltas against a per-DeltaSpace reference, and rebuilds them.

    Every rebuilt file is checked against its recorded SHA256 before it appears at its
    destination; every delta is decoded and checked before it is stored.
    """

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
        self.diff = diff
        self.hasher = hasher
        self.cache = cache
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.policy = policy
        self.tool = tool
        self.codecs = {diff.codec: diff, **(codecs or {})}
        self.containers = dict(containers or {})
        # What is remembered between operations stays bounded (core/bounded.py), and
        # what other processes may change is looked at again after REMEMBERED_FOR.
        self._reference_fetches = KeyedLocks[str]()  # one download per reference at a time
        self._references_lock = threading.Lock()
        self._references = RecentMap[DeltaSpace, list[ObjectInfo]](  # newest first
            SPACES_REMEMBERED, REMEMBERED_FOR
        )
        self._space_indexes = RecentMap[DeltaSpace, dict[str, IndexEntry]](
            SPACES_REMEMBERED, REMEMBERED_FOR
        )
        self._probe_lock = threading.Lock()
        self._exclusive_creates = RecentMap[str, bool](SPACES_REMEMBERED)  # by bucket
        self._index_lock = threading.Lock()
        self._batches = 0
        self._index_updates: dict[DeltaSpace, dict[str, IndexEntry | None]] = {}
        self._listed: dict[str, list[tuple[str, set[str]]]] = {}  # bucket: (prefix, keys)
        self._writes = 0  # this process's writes and deletes noted so far

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
        with _workdir() as work:
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
        content = self._unwrap(upload, work)
        for attempt in range(REFERENCE_ATTEMPTS):
            if attempt:
                self._forget_references(space)
                time.sleep(0.05 * attempt)  # a racing writer's object may still land
            try:
                stored = self._attempt_delta(upload, content, work)
            except _Contended:
                continue
            if stored is None:
                return None
            if self._reference_still_there(space, stored.ref_key, stored.ref_sha256):
                self._settle_delta(upload, stored)
                return stored.result
            self.logger.debug(
                "%s went away under %s: uploading it again", stored.ref_key, upload.dest
            )
        self.storage.delete(upload.dest.bucket, upload.dest.delta_key)  # it names no reference
        raise StorageError(f"{space}: its references kept changing while uploading {upload.dest}")

    def _attempt_delta(
        self, upload: _Upload, content: _Content | None, work: Path
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
        ref_info = self._current_reference(space, upload.dest.name)
        if ref_info is None:  # this file becomes the DeltaSpace's first reference
            # The reference is written only once its delta exists (nothing is stored on
            # a failure), and only if nobody else wrote one meanwhile.
            own = self._self_delta(upload, content, work)
            key = self._first_reference_key(space, upload.sha256)
            if not self._create_reference(space, key, upload):
                raise _Contended
            return self._store_delta(upload, own, key, upload.sha256, "reference created")
        reference = read_reference(ref_info.metadata)
        try:
            ref_path = self._reference_copy(
                space.bucket, ref_info.key, reference.sha256, work / "reference.bin"
            )
        except ReferenceMissing:  # removed since this process listed it
            raise _Contended from None
        encoded = self._encode(ref_path, upload, content, work)
        ratio = encoded.size / upload.size if upload.size else 0.0
        usual = self._usual_ratio(space, ref_info.key, reference.name)
        if self.policy.starts_new_reference(ratio, usual):
            self.logger.debug(
                "delta of %s is %.1f%% of it (usual %s): it becomes a new reference",
                upload.dest, 100 * ratio, "-" if usual is None else f"{100 * usual:.1f}%",
            )  # fmt: skip
            own = self._self_delta(upload, content, work)
            key = space.named_reference_key(upload.sha256)
            if self._create_reference(space, key, upload):
                return self._store_delta(upload, own, key, upload.sha256, "new reference")
        elif not self.policy.keeps_delta(encoded.size, upload.size):
            self.logger.debug(
                "delta of %s is %d of %d bytes, above the ratio %.2f: storing it whole",
                upload.dest, encoded.size, upload.size, self.policy.max_ratio,
            )  # fmt: skip
            return None
        return self._store_delta(upload, encoded, ref_info.key, reference.sha256, "delta")

    def _reference_still_there(self, space: DeltaSpace, key: str, sha256: str) -> bool:
        """Once no gc is at work in the DeltaSpace, whether `key` still holds the
        reference with this SHA256 (see gc_lock.py)."""
        gc_lock.wait_until_free(self.storage, space, self.clock.now)
        info = self.storage.head(space.bucket, key)
        try:
            return info is not None and read_reference(info.metadata).sha256 == sha256
        except FormatError:
            return False

    def _unwrap(self, upload: _Upload, work: Path) -> _Content | None:
        """The file's uncompressed content, when it is a container that can be rebuilt
        byte for byte from it (the recipe is found and proven once per upload)."""
        kind = self.policy.container_for(upload.dest.name)
        container = self.containers.get(kind) if kind else None
        if container is None:
            return None
        inner = work / "target.inner"
        if not container.decompress(upload.source, inner):
            return None
        recipe = container.find_recipe(upload.source, inner)
        if recipe is None or not recipe_fits(
            recipe, container=container.kind, codec=self.diff.codec, tool=self.tool
        ):
            self.logger.debug(
                "%s cannot be rebuilt bit-exactly, or its recipe does not fit S3's "
                "metadata: raw delta",
                upload.dest,
            )
            inner.unlink()
            return None
        return _Content(container, inner, self.hasher.file_sha256(inner), recipe)

    def _encode(
        self, reference: Path, upload: _Upload, content: _Content | None, work: Path
    ) -> _Encoded:
        """Encode a delta (of the uncompressed content where both sides unwrap) and check
        that it rebuilds the file exactly before anything is stored."""
        delta = work / "target.delta"
        if content is not None:
            ref_inner = work / "reference.inner"
            if content.container.decompress(reference, ref_inner):
                self.diff.encode(ref_inner, content.path, delta)
                self._check_round_trip(ref_inner, delta, content.sha256, work)
                return _Encoded(delta, delta.stat().st_size, content)
        self.diff.encode(reference, upload.source, delta)
        self._check_round_trip(reference, delta, upload.sha256, work)
        return _Encoded(delta, delta.stat().st_size, None)

    def _check_round_trip(self, reference: Path, delta: Path, sha256: str, work: Path) -> None:
        """Decode a fresh delta before storing it: what is stored must rebuild exactly.
        (For a container's content, `sha256` is the content's: its recipe was proven to
        rebuild the file from exactly those bytes.)"""
        out = work / "check"
        self.diff.decode(reference, delta, out)
        if self.hasher.file_sha256(out) != sha256:
            raise IntegrityError(f"{self.diff.codec} produced a delta that does not round-trip")
        out.unlink()

    def _self_delta(self, upload: _Upload, content: _Content | None, work: Path) -> _Encoded:
        """The (tiny) delta of a file that becomes a reference, against itself."""
        source, sha256 = (
            (content.path, content.sha256) if content else (upload.source, upload.sha256)
        )
        delta = work / "own.delta"
        self.diff.encode(source, source, delta)
        self._check_round_trip(source, delta, sha256, work)
        return _Encoded(delta, delta.stat().st_size, content)

    def _store_delta(
        self, upload: _Upload, encoded: _Encoded, ref_key: str, ref_sha256: str, reason: str
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
            codec=self.diff.codec,
            tool=self.tool,
            container=content.container.kind if content else None,
            recipe=content.recipe if content else None,
        )
        etag = self.storage.upload(
            dest.bucket, dest.delta_key, encoded.path, meta.to_metadata(dest.delta_key)
        )
        self._note_stored(dest.bucket, dest.delta_key, present=True)
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
        self._record(dest.delta_space, dest.delta_key, entry)
        if not is_reserved_name(dest.name):  # a reserved name's own key is never the user's
            self._delete_if_present(dest.bucket, dest.key)

    def _create_reference(self, space: DeltaSpace, key: str, upload: _Upload) -> bool:
        """Write the file as a reference unless one exists at `key`; True when the key
        now holds this file (a content-named key may already hold the same bytes)."""
        reference = ReferenceMeta(
            upload.dest.name, upload.sha256, upload.size, self.clock.now(), self.tool
        )
        try:
            etag = self.storage.upload(
                space.bucket, key, upload.source, reference.to_metadata(), create_only=True
            )
        except AlreadyExists:
            existing = self.storage.head(space.bucket, key)
            if existing is None or read_reference(existing.metadata).sha256 != upload.sha256:
                self.logger.debug("%s was created by another uploader first", key)
                return False
            info = existing
        else:
            info = ObjectInfo(key, upload.size, self.clock.now(), etag, reference.to_metadata())
        self._remember_reference(space, info)
        self.cache.store(upload.sha256, upload.source)
        self.logger.debug("created reference s3://%s/%s from %s", space.bucket, key, upload.dest)
        return True

    def _current_reference(self, space: DeltaSpace, name: str) -> ObjectInfo | None:
        """The reference a new delta of file `name` is made against.

        Of the DeltaSpace's newest references, the one made from the file whose name
        shares the longest start with `name`, the newest on a tie: in a prefix holding
        one product that is the newest reference; with several products (app-1.2.zip,
        lib-1.2.zip) each delta goes against its own product's reference. Listed once
        per DeltaSpace per process (a LIST, and a HEAD per reference considered).
        """
        known = self._references.get(space)
        if known is None:
            known = self._references.setdefault(space, self._list_references(space))
        if not known:
            return None
        return max(known, key=lambda info: _shared_start(_reference_name(info), name))

    def _list_references(self, space: DeltaSpace) -> list[ObjectInfo]:
        """The DeltaSpace's newest references (up to RECENT_REFERENCES), newest first."""
        listed = [
            entry
            for entry in self.storage.list(space.bucket, space.prefix + "reference", "/")
            if isinstance(entry, ObjectInfo) and is_reference_key(entry.key)
        ]
        # On a tie in time the first reference, `reference.bin`, is the older.
        listed.sort(key=lambda e: (e.last_modified, e.key != space.reference_key), reverse=True)
        found = []
        for entry in listed[:RECENT_REFERENCES]:
            info = self.storage.head(space.bucket, entry.key)
            if info is not None:
                found.append(info)
        return found

    def _forget_references(self, space: DeltaSpace) -> None:
        self._references.pop(space)

    def _remember_reference(self, space: DeltaSpace, info: ObjectInfo) -> None:
        with self._references_lock:
            known = self._references.get(space) or []
            self._references.put(space, [info, *(i for i in known if i.key != info.key)])

    def _usual_ratio(self, space: DeltaSpace, ref_key: str, ref_file: str) -> float | None:
        """The median size, as a fraction of their files, of the DeltaSpace's deltas
        against this reference (not counting the reference's own file); None with fewer
        than DRIFT_HISTORY of them. Read from the listing index, once per process."""
        entries = self._space_indexes.get(space)
        if entries is None:
            entries = self._read_index(space.bucket, space.index_key)
            entries = self._space_indexes.setdefault(space, entries)
        ref_name = ref_key.rsplit("/", 1)[-1]
        own = ref_file + DELTA_SUFFIX
        with self._index_lock:
            ratios = [
                e.delta_size / e.size
                for name, e in entries.items()
                if e.ref == ref_name and e.delta_size is not None and e.size and name != own
            ]
        return statistics.median(ratios) if len(ratios) >= DRIFT_HISTORY else None

    def _first_reference_key(self, space: DeltaSpace, sha256: str) -> str:
        if self._creates_exclusively(space):
            return space.reference_key
        return space.named_reference_key(sha256)

    def _creates_exclusively(self, space: DeltaSpace) -> bool:
        """Whether the store honours create-only writes (If-None-Match: *), found out
        once per bucket by writing a probe object twice, inside the prefix being written
        (a user may be allowed to write nowhere else)."""
        with self._probe_lock:
            honoured = self._exclusive_creates.get(space.bucket)
            if honoured is None:
                honoured = self._probe_exclusive_create(space)
                self._exclusive_creates.put(space.bucket, honoured)
            return honoured

    def _probe_exclusive_create(self, space: DeltaSpace) -> bool:
        bucket = space.bucket
        key = f"{space.prefix}{PROBE_PREFIX}{secrets.token_hex(8)}"
        with _workdir() as work:
            probe = work / "probe"
            probe.write_bytes(b"deltaglider probe\n")
            self.storage.upload(bucket, key, probe, {}, create_only=True)
            try:
                self.storage.upload(bucket, key, probe, {}, create_only=True)
                honoured = False
            except AlreadyExists:
                honoured = True
            finally:
                self.storage.delete(bucket, key)
        if not honoured:
            self.logger.warning(
                "s3://%s ignores conditional writes (If-None-Match): references are "
                "named by their content there, so none is ever overwritten",
                bucket,
            )
        return honoured

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
        self._note_stored(dest.bucket, key, present=True)
        if reserved:  # indexed like a delta, so that listings need no HEAD for it
            self._record(dest.delta_space, key, IndexEntry(etag, upload.size, upload.mtime))
        elif self._exists(dest.bucket, dest.delta_key):  # an earlier version was a delta
            self.storage.delete(dest.bucket, dest.delta_key)
            self._note_stored(dest.bucket, dest.delta_key, present=False)
            self._record(dest.delta_space, dest.delta_key, None)
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
            with _workdir() as work:
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
        with _workdir() as work:
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
            with _workdir() as work:
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
        """Rebuild a delta's file into `out`: decode it against its reference (unwrapped
        first when the delta is of a container's content), then rewrap it. The delta is
        read only in `version` (the ETag its metadata came with); the reference needs no
        such guard, as it is checked against the SHA256 the delta records."""
        codec = self.codecs.get(meta.codec)
        if codec is None:
            raise FormatError(f"{source} was encoded with unknown codec {meta.codec!r}")
        container = self.containers.get(meta.container) if meta.container else None
        if meta.container is not None and (container is None or meta.recipe is None):
            raise FormatError(f"{source} is stored in unknown container {meta.container!r}")
        delta = work / "object.delta"  # first: a changed delta needs no reference fetched
        self.storage.download(source.bucket, delta_key, delta, if_match=version)
        reference = self._reference_copy(
            source.bucket, meta.ref_key, meta.ref_sha256, work / "reference.bin"
        )
        try:
            if container is None or meta.recipe is None:
                codec.decode(reference, delta, out)
                return
            if not container.decompress(reference, work / "ref.inner"):
                raise IntegrityError(
                    f"reference s3://{source.bucket}/{meta.ref_key} does not unwrap"
                )
            codec.decode(work / "ref.inner", delta, work / "object.inner")
            container.rebuild(work / "object.inner", meta.recipe, out)
        except DiffToolMissing:
            raise
        except DiffError as exc:
            raise IntegrityError(f"the stored delta is damaged ({exc})") from None

    def _reference_copy(self, bucket: str, key: str, sha256: str, local: Path) -> Path:
        """Write the reference with this SHA256 to `local`: from the cache if it holds a
        verified copy, else from storage (once per process: other threads wait)."""
        with self._reference_fetches.held(sha256):
            if self.cache.fetch(sha256, local):
                if self.hasher.file_sha256(local) == sha256:
                    return local
                self.logger.warning(
                    "cached reference %s failed verification: fetching it again", sha256
                )
                self.cache.discard(sha256)
                local.unlink(missing_ok=True)
            try:
                self.storage.download(bucket, key, local)
            except ObjectNotFound:
                raise ReferenceMissing(bucket, key) from None
            actual = self.hasher.file_sha256(local)
            if actual != sha256:
                raise IntegrityError(
                    f"reference s3://{bucket}/{key} has SHA256 {actual}, expected {sha256}"
                )
            self.metrics.increment("reference.fetch")
            self.cache.store(sha256, local)
            return local

    def head(self, key: ObjectKey) -> LogicalObject:
        """A logical object's name, size and time, without rebuilding it."""
        stored = self._find(key)
        logical = self._logical(key.bucket, stored.info, head=stored.info)
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
        with _workdir() as work:
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
        self._note_stored(key.bucket, stored.info.key, present=False)
        if stored.info.key.endswith(DELTA_SUFFIX):
            self._record(key.delta_space, stored.info.key, None)
        self.metrics.increment("delete")
        return DeleteResult(key, stored.info.key)

    def _delete_if_present(self, bucket: str, key: str) -> None:
        if self._exists(bucket, key):
            self.storage.delete(bucket, key)
            self._note_stored(bucket, key, present=False)

    def _remembered(
        self, bucket: str, prefix: str, stored: Iterable[ObjectInfo | CommonPrefix]
    ) -> Iterator[ObjectInfo | CommonPrefix]:
        """A complete recursive listing, passed through; read to its end within a batch,
        it then answers "is this key stored?" (unless this process wrote meanwhile: the
        listing may have passed the key before or after the write)."""
        with self._index_lock:
            batched, writes = self._batches > 0, self._writes
        if not batched:
            yield from stored
            return
        keys: set[str] = set()
        for entry in stored:
            if isinstance(entry, ObjectInfo):
                keys.add(entry.key)
            yield entry
        with self._index_lock:
            if self._batches and self._writes == writes:
                self._listed.setdefault(bucket, []).append((prefix, keys))

    def _exists(self, bucket: str, key: str) -> bool:
        """Whether a stored key exists: from a listing taken in this batch, else a HEAD."""
        if not fits_key(key):  # never stored; a HEAD of one is a 400 (Ceph)
            return False
        with self._index_lock:
            listed = self._listing_covering(bucket, key)
            if listed is not None:
                return key in listed
        return self.storage.head(bucket, key) is not None

    def _note_stored(self, bucket: str, key: str, *, present: bool) -> None:
        """Keep the batch's listing current with this process's own writes and deletes."""
        with self._index_lock:
            self._writes += 1
            listed = self._listing_covering(bucket, key)
            if listed is not None:
                if present:
                    listed.add(key)
                else:
                    listed.discard(key)

    def _listing_covering(self, bucket: str, key: str) -> set[str] | None:
        """The keys of the batch listing whose prefix covers `key` (lock held)."""
        covering = (keys for prefix, keys in self._listed.get(bucket, []) if key.startswith(prefix))
        return next(covering, None)

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

    # ----------------------------------------------------------------- list / stats

    def list(
        self, bucket: str, prefix: str = "", *, recursive: bool = False, start_after: str = ""
    ) -> Iterator[LogicalObject | CommonPrefix]:
        """The logical view, read as it is consumed: original names and sizes, references
        and suffixes hidden, in S3's order of the logical keys (UTF-8 bytes), only keys
        after `start_after`.

        A delta's original size comes from its folder's listing index (one GET per
        folder, when a delta there first needs it), or from a HEAD where the index does
        not vouch for it.
        """
        ordered = self._ordered(bucket, prefix, recursive, start_after, HOLD)
        yield from self._described(bucket, ordered)

    def list_page(
        self,
        bucket: str,
        prefix: str = "",
        *,
        recursive: bool = False,
        start_after: str = "",
        max_keys: int = 1000,
    ) -> ListPage:
        """At most `max_keys` (at least 1) entries of the logical view after `start_after`,
        reading the store no further than the page needs; the page's `next_start_after`
        lists the next one."""
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, got {max_keys}")
        ordered = self._ordered(bucket, prefix, recursive, start_after, max_keys + 1)
        taken = list(islice(ordered, max_keys + 1))
        entries = list(self._described(bucket, taken[:max_keys]))
        return ListPage(entries, taken[max_keys - 1].key if len(taken) > max_keys else None)

    def _ordered(
        self, bucket: str, prefix: str, recursive: bool, start_after: str, hold: int
    ) -> Iterator[Listed]:
        """The store's listing in logical order (see core/listing.py); the stored listing
        starts after `start_after` too, as no stored key sorts before its logical key."""
        delimiter = None if recursive else "/"
        stored = self.storage.list(bucket, prefix, delimiter, start_after=start_after)
        if recursive and not start_after:
            stored = self._remembered(bucket, prefix, stored)
        return logical_order(
            stored,
            prefix=prefix,
            start_after=start_after,
            probe=lambda key: self.storage.head(bucket, key),
            hold=hold,
        )

    def _described(
        self, bucket: str, listed: Iterable[Listed]
    ) -> Iterator[LogicalObject | CommonPrefix]:
        """Logical entries as users see them, each delta's size from its folder's index."""
        indexes = self._folder_indexes(bucket)
        for item in listed:
            if isinstance(item.entry, CommonPrefix):
                yield item.entry
                continue
            info = item.entry
            index = indexes.get(folder_of(info.key)) if info.key.endswith(DELTA_SUFFIX) else {}
            # An entry found by a direct look-up (core/listing.py) carries its metadata.
            logical = self._logical(bucket, info, index, head=info if info.metadata else None)
            if logical is not None:
                yield logical

    def _folder_indexes(self, bucket: str) -> FolderIndexes:
        return FolderIndexes(lambda folder: self._read_index(bucket, folder + INDEX_NAME))

    def _read_index(self, bucket: str, key: str) -> dict[str, IndexEntry]:
        with _workdir() as work:
            try:
                self.storage.download(bucket, key, work / "index.json")
            except ObjectNotFound:
                return {}
            return parse_index((work / "index.json").read_bytes())

    def _logical(
        self,
        bucket: str,
        entry: ObjectInfo,
        index: Mapping[str, IndexEntry] | None = None,
        head: ObjectInfo | None = None,
    ) -> LogicalObject | None:
        """A listed stored object as users see it. A delta's original size comes from the
        index when it vouches for this very object (same ETag), else from a HEAD."""
        key = logical_key(entry.key)
        if key is None:
            return None
        if not entry.key.endswith(DELTA_SUFFIX):
            return LogicalObject(
                key, entry.size, entry.last_modified, StoredAs.DIRECT, entry.key, entry.size
            )
        known = (index or {}).get(entry.key.rsplit("/", 1)[-1])
        if known is not None and entry.etag and known.etag == entry.etag:
            size = known.size
        else:
            size = entry.size
            info = head or self.storage.head(bucket, entry.key)
            if info is not None and stored_kind(info.metadata) != "direct":
                try:
                    size = read_delta(info.metadata, entry.key).size
                except FormatError as exc:
                    self.logger.warning("s3://%s/%s: %s", bucket, entry.key, exc)
        # Times are the stored object's, as S3 shows them: `ls` and `sync` then agree
        # with `aws s3` line for line (the file's own mtime stays in dg-file-mtime).
        return LogicalObject(key, size, entry.last_modified, StoredAs.DELTA, entry.key, entry.size)

    # ----------------------------------------------------------------- listing index

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One command's worth of operations (a recursive copy, a sync): each DeltaSpace's
        listing index is written once, at the end, instead of after every object, and
        recursive listings taken within answer "is this key stored?" instead of a HEAD
        per object (kept current with this process's own writes)."""
        with self._index_lock:
            self._batches += 1
        try:
            yield
        finally:
            with self._index_lock:
                self._batches -= 1
                pending = self._index_updates if self._batches == 0 else {}
                if self._batches == 0:
                    self._index_updates = {}
                    self._listed = {}
            for space, updates in pending.items():
                self._write_index(space, updates)

    def _record(self, space: DeltaSpace, stored_key: str, entry: IndexEntry | None) -> None:
        name = stored_key.rsplit("/", 1)[-1]
        with self._index_lock:
            known = self._space_indexes.get(space)
            if known is not None:
                if entry is None:
                    known.pop(name, None)
                else:
                    known[name] = entry
            if self._batches:
                self._index_updates.setdefault(space, {})[name] = entry
                return
        self._write_index(space, {name: entry})

    def _write_index(self, space: DeltaSpace, updates: Mapping[str, IndexEntry | None]) -> None:
        """Read, merge, write. A lost update (two writers at once) only costs HEADs later."""
        try:
            entries = self._read_index(space.bucket, space.index_key)
            for name, entry in updates.items():
                if entry is None:
                    entries.pop(name, None)
                else:
                    entries[name] = entry
            if not entries:
                self.storage.delete(space.bucket, space.index_key)
                return
            with _workdir() as work:
                (work / "index.json").write_bytes(render_index(entries))
                self.storage.upload(space.bucket, space.index_key, work / "index.json", {})
        except DeltaGliderError as exc:
            self.logger.warning("listing index of %s not updated: %s", space, exc)

    def stats(self, bucket: str, prefix: str = "") -> Sequence[SpaceStats]:
        """Logical and stored bytes per "folder" under `prefix`, from listings, listing
        indexes (fetched as for `list`) and HEADs where an index does not vouch."""
        tallies: dict[str, _Tally] = {}
        indexes = self._folder_indexes(bucket)
        for entry in self.storage.list(bucket, prefix):
            assert isinstance(entry, ObjectInfo)  # no delimiter: no common prefixes
            folder = folder_of(entry.key)
            tally = tallies.setdefault(folder, _Tally())
            tally.stored_bytes += entry.size
            is_delta = entry.key.endswith(DELTA_SUFFIX) and logical_key(entry.key) is not None
            logical = self._logical(bucket, entry, indexes.get(folder) if is_delta else {})
            if logical is None:
                tally.references += is_reference_key(entry.key)
            else:
                tally.objects += 1
                tally.deltas += logical.stored_as is StoredAs.DELTA
                tally.logical_bytes += logical.size
        return [tally.freeze(folder) for folder, tally in sorted(tallies.items())]


@dataclass
class _Tally:
    objects: int = 0
    deltas: int = 0
    references: int = 0
    logical_bytes: int = 0
    stored_bytes: int = 0

    def freeze(self, prefix: str) -> SpaceStats:
        return SpaceStats(
            prefix,
            self.objects,
            self.deltas,
            self.references,
            self.logical_bytes,
            self.stored_bytes,
        )


def _reference_name(info: ObjectInfo) -> str:
    try:
        return read_reference(info.metadata).name
    except FormatError:
        return ""


def _shared_start(one: str, other: str) -> int:
    """How many leading characters two names share."""
    for count, (a, b) in enumerate(zip(one, other, strict=False)):
        if a != b:
            return count
    return min(len(one), len(other))


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


@contextmanager
def _workdir() -> Iterator[Path]:
    """A private scratch directory, removed with everything in it on the way out."""
    path = Path(tempfile.mkdtemp(prefix="deltaglider-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
