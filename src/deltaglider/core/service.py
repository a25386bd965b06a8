"""DeltaService: the use cases (put, get, verify, delete, list, stats) over the ports."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from deltaglider.core.errors import (
    AlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    DeltaGliderError,
    DiffError,
    DiffToolMissing,
    FormatError,
    IntegrityError,
    LocalFileError,
    ObjectNotFound,
    StorageError,
)
from deltaglider.core.index import IndexEntry, parse_index, render_index
from deltaglider.core.metadata import (
    DeltaMeta,
    DirectMeta,
    ReferenceMeta,
    read_delta,
    read_direct,
    read_reference,
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
from deltaglider.core.policy import DeltaPolicy, is_reserved_name
from deltaglider.ports import (
    BucketInfo,
    BucketPort,
    CachePort,
    ClockPort,
    CommonPrefix,
    DiffPort,
    HashPort,
    LoggerPort,
    MetricsPort,
    ObjectInfo,
    StoragePort,
)

REFERENCE_ATTEMPTS = 5  # tries to settle a new DeltaSpace's reference under contention


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
    ) -> None:
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
        self._reference_locks: dict[str, threading.Lock] = {}
        self._probe_lock = threading.Lock()
        self._exclusive_creates: dict[str, bool] = {}
        self._index_lock = threading.Lock()
        self._index_batches = 0
        self._index_updates: dict[DeltaSpace, dict[str, IndexEntry | None]] = {}

    # ----------------------------------------------------------------- put

    def put(self, source: Path, dest: ObjectKey, *, no_delta: bool = False) -> PutResult:
        """Store a local file under `dest`, as a delta when that pays, else as itself."""
        started = time.monotonic()
        try:
            stat = source.stat()
        except OSError as exc:
            raise LocalFileError(f"cannot read {source}: {exc.strerror}") from None
        if not source.is_file():
            raise LocalFileError(f"not a regular file: {source}")
        mtime = datetime.fromtimestamp(stat.st_mtime, UTC)
        sha256 = self.hasher.file_sha256(source)
        name = dest.name
        wants_delta = self.policy.should_use_delta(name, stat.st_size) and (
            not no_delta or is_reserved_name(name)
        )
        result = None
        if wants_delta:
            result = self._put_delta(source, dest, sha256, stat.st_size, mtime)
        if result is None:
            result = self._put_direct(source, dest, sha256, stat.st_size, mtime, wants_delta)
        self.metrics.increment(f"put.{result.stored_as.value}")
        self.metrics.timing("put", time.monotonic() - started)
        return result

    def _put_delta(
        self, source: Path, dest: ObjectKey, sha256: str, size: int, mtime: datetime
    ) -> PutResult | None:
        """Store `source` as a delta; None when the delta is too large to be worth it.

        A DeltaSpace without a reference gets this file as its reference, written
        create-only: of uploaders racing to create it, one wins and the others delta
        against the winner's reference, so no delta ever loses its reference.
        """
        space = dest.delta_space
        for attempt in range(REFERENCE_ATTEMPTS):
            ref_info = self._find_reference(space)
            with _workdir() as work:
                if ref_info is None:  # this file becomes the DeltaSpace's reference
                    ref_path, ref_sha256 = source, sha256
                    ref_key = self._new_reference_key(space, sha256)
                else:
                    ref_sha256 = read_reference(ref_info.metadata).sha256
                    ref_key = ref_info.key
                    ref_path = self._reference_copy(
                        space.bucket, ref_key, ref_sha256, work / "reference.bin"
                    )
                delta = work / "target.delta"
                self.diff.encode(ref_path, source, delta)
                delta_size = delta.stat().st_size
                if not self.policy.keeps_delta(dest.name, delta_size, size):
                    self.logger.debug(
                        "delta of %s is %d of %d bytes, above the ratio %.2f: storing it whole",
                        dest, delta_size, size, self.policy.max_ratio,
                    )  # fmt: skip
                    return None
                self._check_round_trip(ref_path, delta, sha256, work / "check")
                # The reference is written only once its delta exists (nothing is stored
                # on a failure), and only if nobody else wrote one meanwhile.
                if ref_info is None and not self._create_reference(
                    space.bucket, ref_key, dest.name, source, sha256, size
                ):
                    time.sleep(0.05 * (attempt + 1))  # the winner's write may still land
                    continue
                meta = DeltaMeta(
                    name=dest.name,
                    sha256=sha256,
                    size=size,
                    mtime=mtime,
                    created_at=self.clock.now(),
                    ref_key=ref_key,
                    ref_sha256=ref_sha256,
                    delta_size=delta_size,
                    codec=self.diff.codec,
                    tool=self.tool,
                )
                etag = self.storage.upload(dest.bucket, dest.delta_key, delta, meta.to_metadata())
            self._record(space, dest.delta_key, IndexEntry(etag, size, mtime))
            if not is_reserved_name(dest.name):  # reserved names are never stored direct
                self._delete_if_present(dest.bucket, dest.key)
            return PutResult(
                key=dest,
                stored_as=StoredAs.DELTA,
                stored_key=dest.delta_key,
                file_size=size,
                file_sha256=sha256,
                stored_size=delta_size,
                created_reference=ref_info is None,
                reason="reference created" if ref_info is None else "delta",
            )
        raise StorageError(f"{space}: its reference kept changing while uploading {dest.name}")

    def _create_reference(
        self, bucket: str, key: str, name: str, source: Path, sha256: str, size: int
    ) -> bool:
        """Write `source` as a reference unless one exists at `key`; True if written."""
        reference = ReferenceMeta(name, sha256, size, self.clock.now(), self.tool)
        try:
            self.storage.upload(bucket, key, source, reference.to_metadata(), create_only=True)
        except AlreadyExists:
            self.logger.debug("s3://%s/%s was created by another uploader first", bucket, key)
            return False
        self.cache.store(sha256, source)
        self.logger.debug("created reference s3://%s/%s from %s", bucket, key, name)
        return True

    def _find_reference(self, space: DeltaSpace) -> ObjectInfo | None:
        """The DeltaSpace's reference: `reference.bin`, or on a store that ignores
        conditional writes the earliest reference named by content."""
        info = self.storage.head(space.bucket, space.reference_key)
        if info is not None or self._creates_exclusively(space.bucket):
            return info
        named = [
            entry
            for entry in self.storage.list(space.bucket, space.prefix, delimiter="/")
            if isinstance(entry, ObjectInfo) and is_reference_key(entry.key)
        ]
        if not named:
            return None
        earliest = min(named, key=lambda entry: (entry.last_modified, entry.key))
        return self.storage.head(space.bucket, earliest.key)

    def _new_reference_key(self, space: DeltaSpace, sha256: str) -> str:
        if self._creates_exclusively(space.bucket):
            return space.reference_key
        return space.named_reference_key(sha256)

    def _creates_exclusively(self, bucket: str) -> bool:
        """Whether the store honours create-only writes (If-None-Match: *), found out
        once per bucket by writing a probe object twice."""
        with self._probe_lock:
            if bucket not in self._exclusive_creates:
                self._exclusive_creates[bucket] = self._probe_exclusive_create(bucket)
            return self._exclusive_creates[bucket]

    def _probe_exclusive_create(self, bucket: str) -> bool:
        key = f"{PROBE_PREFIX}{secrets.token_hex(8)}"
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

    def _check_round_trip(self, reference: Path, delta: Path, sha256: str, out: Path) -> None:
        """Decode a fresh delta before storing it: what is stored must rebuild exactly."""
        self.diff.decode(reference, delta, out)
        if self.hasher.file_sha256(out) != sha256:
            raise IntegrityError(f"{self.diff.codec} produced a delta that does not round-trip")
        out.unlink()

    def _put_direct(
        self,
        source: Path,
        dest: ObjectKey,
        sha256: str,
        size: int,
        mtime: datetime,
        tried_delta: bool,
    ) -> PutResult:
        meta = DirectMeta(dest.name, sha256, size, mtime, self.clock.now(), self.tool)
        self.storage.upload(dest.bucket, dest.key, source, meta.to_metadata())
        old_delta = self.storage.head(dest.bucket, dest.delta_key)
        if old_delta is not None:  # an earlier version was a delta: it is replaced now
            self.storage.delete(dest.bucket, dest.delta_key)
            self._record(dest.delta_space, dest.delta_key, None)
            self.drop_unused_reference(dest.delta_space)
        return PutResult(
            key=dest,
            stored_as=StoredAs.DIRECT,
            stored_key=dest.key,
            file_size=size,
            file_sha256=sha256,
            stored_size=size,
            created_reference=False,
            reason="delta too large" if tried_delta else "not a delta candidate",
        )

    # ----------------------------------------------------------------- get / verify

    def get(self, source: ObjectKey, dest: Path) -> GetResult:
        """Rebuild a logical object into `dest`; the file appears only once verified.

        The bytes go to a temporary file beside `dest`, which is renamed into place
        after its SHA256 matched; on any failure `dest` is left as it was.
        """
        started = time.monotonic()
        stored = self._locate(source)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LocalFileError(f"cannot create {dest.parent}: {exc.strerror}") from None
        temp = dest.parent / f".{dest.name}.dg-tmp-{secrets.token_hex(4)}"
        try:
            rebuilt = self._rebuild(source, stored, temp)
            if rebuilt.expected_sha256 not in (None, rebuilt.actual_sha256):
                raise IntegrityError(
                    f"{source} rebuilt with SHA256 {rebuilt.actual_sha256}, "
                    f"expected {rebuilt.expected_sha256}: the stored object is corrupt"
                )
            stamp = rebuilt.mtime.timestamp()
            os.utime(temp, (stamp, stamp))
            os.replace(temp, dest)
        except OSError as exc:
            raise LocalFileError(f"cannot write {dest}: {exc.strerror}") from None
        finally:
            temp.unlink(missing_ok=True)
        self.metrics.increment(f"get.{stored.stored_as.value}")
        self.metrics.timing("get", time.monotonic() - started)
        return GetResult(source, stored.stored_as, rebuilt.size, rebuilt.expected_sha256)

    def verify(self, source: ObjectKey) -> VerifyResult:
        """Rebuild an object in a scratch directory and compare SHA256s; keep nothing."""
        stored = self._locate(source)
        with _workdir() as work:
            rebuilt = self._rebuild(source, stored, work / "rebuilt")
        return VerifyResult(source, rebuilt.expected_sha256, rebuilt.actual_sha256)

    def _rebuild(self, source: ObjectKey, stored: _Stored, out: Path) -> _Rebuilt:
        """Write the object's bytes to `out`; the caller compares the SHA256s."""
        info = stored.info
        if stored.stored_as is StoredAs.DIRECT:
            self.storage.download(source.bucket, info.key, out)
            direct = read_direct(info.metadata)
            expected = direct.sha256 if direct else None
        else:
            meta = read_delta(info.metadata)
            if meta.codec != self.diff.codec:
                raise FormatError(f"{source} was encoded with unknown codec {meta.codec!r}")
            with _workdir() as work:
                reference = self._reference_copy(
                    source.bucket, meta.ref_key, meta.ref_sha256, work / "reference.bin"
                )
                delta = work / "object.delta"
                self.storage.download(source.bucket, info.key, delta)
                try:
                    self.diff.decode(reference, delta, out)
                except DiffToolMissing:
                    raise
                except DiffError as exc:
                    raise IntegrityError(f"the stored delta is damaged ({exc})") from None
            expected = meta.sha256
        actual = self.hasher.file_sha256(out)
        return _Rebuilt(expected, actual, out.stat().st_size, info.last_modified)

    def _reference_copy(self, bucket: str, key: str, sha256: str, local: Path) -> Path:
        """Write the reference with this SHA256 to `local`: from the cache if it holds a
        verified copy, else from storage (once per process: other threads wait)."""
        with self._reference_locks.setdefault(sha256, threading.Lock()):
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
                raise IntegrityError(
                    f"reference s3://{bucket}/{key} is missing: its deltas cannot be rebuilt"
                ) from None
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
        stored = self._locate(key)
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
            info = self.storage.head(key.bucket, stored_key)
            if info is not None:
                return _Stored(stored_as, info)
        raise ObjectNotFound(key.bucket, key.key)  # aws says this for a missing bucket too

    def copy(self, source: ObjectKey, dest: ObjectKey, *, no_delta: bool = False) -> PutResult:
        """Copy a logical object to another key (any bucket): rebuild, then store anew."""
        with _workdir() as work:
            local = work / source.name
            self.get(source, local)
            return self.put(local, dest, no_delta=no_delta)

    # ----------------------------------------------------------------- delete

    def delete(self, key: ObjectKey) -> DeleteResult:
        """Delete a logical object; its reference goes once no delta needs it.

        Like an S3 DELETE, deleting a key that is not there succeeds (and deletes nothing).
        """
        try:
            stored = self._locate(key)
        except ObjectNotFound:
            if not self.buckets.bucket_exists(key.bucket):
                raise BucketNotFound(key.bucket, "DeleteObject") from None
            return DeleteResult(key, None, deleted_reference=False)
        self.storage.delete(key.bucket, stored.info.key)
        deleted_reference = False
        if stored.stored_as is StoredAs.DELTA:
            self._record(key.delta_space, stored.info.key, None)
            deleted_reference = self.drop_unused_reference(key.delta_space)
        self.metrics.increment("delete")
        return DeleteResult(key, stored.info.key, deleted_reference)

    def drop_unused_reference(self, space: DeltaSpace) -> bool:
        """Delete the DeltaSpace's reference(s) if no delta is left in it; True if any went."""
        references = []
        for entry in self.storage.list(space.bucket, space.prefix, delimiter="/"):
            if isinstance(entry, ObjectInfo):
                if entry.key.endswith(DELTA_SUFFIX):
                    return False
                if is_reference_key(entry.key):
                    references.append(entry.key)
        if not references:
            return False
        self.storage.delete(space.bucket, space.index_key)
        for key in references:
            self.storage.delete(space.bucket, key)
            self.logger.debug("deleted reference %s: no delta needs it", key)
        return True

    def _delete_if_present(self, bucket: str, key: str) -> None:
        if self.storage.head(bucket, key) is not None:
            self.storage.delete(bucket, key)

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
        self, bucket: str, prefix: str = "", *, recursive: bool = False
    ) -> Iterator[LogicalObject | CommonPrefix]:
        """The logical view: original names and sizes; references and suffixes hidden.

        A delta's original size comes from its DeltaSpace's listing index (one GET per
        DeltaSpace), or from a HEAD where the index does not vouch for it.
        """
        entries = list(self.storage.list(bucket, prefix, None if recursive else "/"))
        indexes = self._indexes(bucket, entries)
        for entry in entries:
            if isinstance(entry, CommonPrefix):
                yield entry
                continue
            logical = self._logical(bucket, entry, indexes.get(folder_of(entry.key), {}))
            if logical is not None:
                yield logical

    def _indexes(
        self, bucket: str, entries: Sequence[ObjectInfo | CommonPrefix]
    ) -> dict[str, dict[str, IndexEntry]]:
        """The listing indexes that appear in a listing, by folder."""
        indexes: dict[str, dict[str, IndexEntry]] = {}
        for entry in entries:
            if isinstance(entry, ObjectInfo) and entry.key.endswith(INDEX_NAME):
                folder = folder_of(entry.key)
                if folder + INDEX_NAME == entry.key:
                    indexes[folder] = self._read_index(bucket, entry.key)
        return indexes

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
            if info is not None:
                try:
                    size = read_delta(info.metadata).size
                except FormatError as exc:
                    self.logger.warning("s3://%s/%s: %s", bucket, entry.key, exc)
        # Times are the stored object's, as S3 shows them: `ls` and `sync` then agree
        # with `aws s3` line for line (the file's own mtime stays in dg-file-mtime).
        return LogicalObject(key, size, entry.last_modified, StoredAs.DELTA, entry.key, entry.size)

    # ----------------------------------------------------------------- listing index

    @contextmanager
    def index_batch(self) -> Iterator[None]:
        """Collect listing-index updates and write each DeltaSpace's index once, at the
        end, instead of after every object (for recursive copies and syncs)."""
        with self._index_lock:
            self._index_batches += 1
        try:
            yield
        finally:
            with self._index_lock:
                self._index_batches -= 1
                pending = self._index_updates if self._index_batches == 0 else {}
                if self._index_batches == 0:
                    self._index_updates = {}
            for space, updates in pending.items():
                self._write_index(space, updates)

    def _record(self, space: DeltaSpace, stored_key: str, entry: IndexEntry | None) -> None:
        name = stored_key.rsplit("/", 1)[-1]
        with self._index_lock:
            if self._index_batches:
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
        """Logical and stored bytes per "folder" under `prefix`, from listings and HEADs."""
        tallies: dict[str, _Tally] = {}
        entries = list(self.storage.list(bucket, prefix))
        indexes = self._indexes(bucket, entries)
        for entry in entries:
            assert isinstance(entry, ObjectInfo)  # no delimiter: no common prefixes
            folder = folder_of(entry.key)
            tally = tallies.setdefault(folder, _Tally())
            tally.stored_bytes += entry.size
            logical = self._logical(bucket, entry, indexes.get(folder, {}))
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


@contextmanager
def _workdir() -> Iterator[Path]:
    """A private scratch directory, removed with everything in it on the way out."""
    path = Path(tempfile.mkdtemp(prefix="deltaglider-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
