"""Choosing, creating, confirming and fetching a DeltaSpace's references.

- Choosing: of the DeltaSpace's newest references, those whose content sketch is most
  like the new file's (core/sketch.py), and the one made from the file whose name shares
  the longest start with the new file's (for references without a sketch); and what
  deltas against a reference usually weigh.
- Creating: create-only (`If-None-Match: *`), so racing uploaders agree on one; on stores
  that ignore conditional writes (found out once per bucket by a probe written twice),
  references are named by their content instead.
- Confirming: after a delta is stored, its reference must still be there (gc_lock.py).
- Fetching: through the local cache, each reference once per process, SHA256-checked;
  from a store on local disk, a hard link to it instead (no copy, nothing cached). A
  large reference is copied into the cache on its second use in the process, not its
  first: the copy (encrypted, written twice) costs about what fetching it again does,
  and a command on one large object never reads it again.

What a process remembers of a DeltaSpace's references expires after REMEMBERED_FOR
seconds and is bounded (core/bounded.py), so a long-lived process sees other processes'
new references and never grows without end.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deltaglider.core import gc_lock
from deltaglider.core.bounded import KeyedLocks, RecentMap
from deltaglider.core.catalog import Catalog
from deltaglider.core.errors import (
    AlreadyExists,
    DiffError,
    FormatError,
    IntegrityError,
    ObjectNotFound,
    ReferenceChanged,
    ReferenceMissing,
)
from deltaglider.core.metadata import ReferenceMeta, read_reference
from deltaglider.core.models import DELTA_SUFFIX, PROBE_PREFIX, DeltaSpace, is_reference_key
from deltaglider.core.policy import DRIFT_HISTORY
from deltaglider.core.scratch import scratch_dir
from deltaglider.core.sketch import Sketch
from deltaglider.ports import (
    CachePort,
    ClockPort,
    DiffPort,
    HashingStorage,
    HashPort,
    LinkingStorage,
    LoggerPort,
    MetricsPort,
    ObjectInfo,
    StoragePort,
)

RECENT_REFERENCES = 16  # references of a DeltaSpace that new deltas may be made against
SKETCHED_CANDIDATES = 2  # most alike references offered, beside the one chosen by name
SPACES_REMEMBERED = 256  # DeltaSpaces (and buckets) whose references are kept
REMEMBERED_FOR = 60.0  # seconds before another process's new reference is seen
CACHED_AT_ONCE_UP_TO = 64 * 1024 * 1024  # larger references are cached on second use


class References:
    """The references of every DeltaSpace one service works with."""

    def __init__(
        self,
        *,
        storage: StoragePort,
        catalog: Catalog,
        cache: CachePort,
        hasher: HashPort,
        clock: ClockPort,
        logger: LoggerPort,
        metrics: MetricsPort,
        tool: str,
        codecs: Mapping[str, DiffPort] | None = None,
    ) -> None:
        """`codecs` (by name) decode references stored compressed (`dg-encoding`)."""
        self.storage = storage
        self.codecs = dict(codecs or {})
        self.catalog = catalog
        self.cache = cache
        self.hasher = hasher
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.tool = tool
        self._fetches = KeyedLocks[str]()  # one download per reference at a time
        self._lock = threading.Lock()
        self._known = RecentMap[DeltaSpace, list[ObjectInfo]](  # newest first
            SPACES_REMEMBERED, REMEMBERED_FOR
        )
        self._probe_lock = threading.Lock()
        # A store on local disk is its own cache: references are linked from it, not
        # copied (twice, with the cache) for every use.
        self._local = isinstance(storage, LinkingStorage)
        self._exclusive_creates = RecentMap[str, bool](SPACES_REMEMBERED)  # by bucket
        self._used_once = RecentMap[str, bool](SPACES_REMEMBERED)  # large ones, by SHA256

    # ----------------------------------------------------------------- choosing

    def candidates(self, space: DeltaSpace, name: str, sketch: Sketch | None) -> list[ObjectInfo]:
        """The references a new delta of file `name` may be made against, best first
        (empty when the DeltaSpace has none): those whose content sketch is most like
        the file's, then the one made from the file whose name shares the longest start
        with `name` (the newest on a tie), for references without a sketch. Listed once
        per DeltaSpace (a LIST, and a HEAD per reference considered) until it expires."""
        known = self._known.get(space)
        if known is None:
            known = self._known.setdefault(space, self._list(space))
        if not known:
            return []
        by_name = max(known, key=lambda info: _shared_start(_file_name(info), name))
        if sketch is None:
            return [by_name]
        alike = []
        for info in known:
            theirs = _sketch(info)
            if theirs is not None:
                alike.append((theirs.similarity(sketch), info))
        alike.sort(key=lambda pair: pair[0], reverse=True)  # stable: newest first on a tie
        chosen = [info for _, info in alike[:SKETCHED_CANDIDATES]]
        return chosen + ([by_name] if by_name not in chosen else [])

    def _list(self, space: DeltaSpace) -> list[ObjectInfo]:
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

    def forget(self, space: DeltaSpace) -> None:
        """Look the DeltaSpace's references up again next time (another writer changed them)."""
        self._known.pop(space)

    def _remember(self, space: DeltaSpace, info: ObjectInfo) -> None:
        with self._lock:
            known = self._known.get(space) or []
            self._known.put(space, [info, *(i for i in known if i.key != info.key)])

    def usual_ratio(self, space: DeltaSpace, ref_key: str, ref_file: str) -> float | None:
        """The median size, as a fraction of their files, of the DeltaSpace's deltas
        against this reference (not counting the reference's own file); None with fewer
        than DRIFT_HISTORY of them. From the listing index."""
        ref_name = ref_key.rsplit("/", 1)[-1]
        own = ref_file + DELTA_SUFFIX
        ratios = [
            e.delta_size / e.size
            for name, e in self.catalog.space_index(space).items()
            if e.ref == ref_name and e.delta_size is not None and e.size and name != own
        ]
        if len(ratios) < DRIFT_HISTORY:
            return None
        import statistics  # noqa: PLC0415 (uploads only: `ls` starts without it)

        return statistics.median(ratios)

    # ----------------------------------------------------------------- creating

    def first_key(self, space: DeltaSpace, sha256: str) -> str:
        """Where a DeltaSpace's first reference goes: `reference.bin`, or a name from its
        content on a store that ignores conditional writes."""
        if self._creates_exclusively(space):
            return space.reference_key
        return space.named_reference_key(sha256)

    def create(
        self,
        space: DeltaSpace,
        key: str,
        source: Path,
        name: str,
        sha256: str,
        size: int,
        sketch: Sketch | None = None,
        packed: tuple[Path, str] | None = None,
    ) -> int | None:
        """Write the file as a reference unless one exists at `key` (`packed`: a frame
        of it by the named codec, stored instead, `dg-encoding`); the bytes stored when
        the key now holds this file (a content-named key may already hold the same
        bytes: 0), None when it holds another. The cache keeps the file itself, copied
        there while it uploads (kept by its SHA256, the copy is right whatever the
        upload's outcome)."""
        stored, encoding = packed if packed is not None else (source, None)
        reference = ReferenceMeta(
            name, sha256, size, self.clock.now(), self.tool,
            sketch.to_text() if sketch else None, encoding,
        )  # fmt: skip
        with ThreadPoolExecutor(1) as aside:
            caching = (
                aside.submit(self.cache.store, sha256, source)
                if self._worth_caching(sha256, size)
                else None
            )
            try:
                etag: str | None = self.storage.upload(
                    space.bucket, key, stored, reference.to_metadata(), create_only=True
                )
            except AlreadyExists:
                etag = None
            if caching is not None:
                caching.result()
        if etag is None:
            existing = self.storage.head(space.bucket, key)
            if existing is None or read_reference(existing.metadata).sha256 != sha256:
                self.logger.debug("%s was created by another uploader first", key)
                return None
            info, written = existing, 0
        else:
            written = stored.stat().st_size
            info = ObjectInfo(key, written, self.clock.now(), etag, reference.to_metadata())
        self._remember(space, info)
        self.logger.debug("created reference s3://%s/%s from %s", space.bucket, key, name)
        return written

    def _creates_exclusively(self, space: DeltaSpace) -> bool:
        """Whether the store honours create-only writes (If-None-Match: *), found out
        once per bucket by writing a probe object twice, inside the prefix being written
        (a user may be allowed to write nowhere else)."""
        with self._probe_lock:
            honoured = self._exclusive_creates.get(space.bucket)
            if honoured is None:
                honoured = self._probe(space)
                self._exclusive_creates.put(space.bucket, honoured)
            return honoured

    def _probe(self, space: DeltaSpace) -> bool:
        bucket = space.bucket
        key = f"{space.prefix}{PROBE_PREFIX}{os.urandom(8).hex()}"
        with scratch_dir() as work:
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

    # ----------------------------------------------------------------- confirming

    def still_there(self, space: DeltaSpace, key: str, sha256: str) -> bool:
        """Once no gc is at work in the DeltaSpace, whether `key` still holds the
        reference with this SHA256 (see gc_lock.py)."""
        gc_lock.wait_until_free(self.storage, space, self.clock.now)
        info = self.storage.head(space.bucket, key)
        try:
            return info is not None and read_reference(info.metadata).sha256 == sha256
        except FormatError:
            return False

    # ----------------------------------------------------------------- fetching

    def fetch(
        self,
        bucket: str,
        key: str,
        sha256: str,
        local: Path,
        *,
        only_read: bool = True,
        written: Callable[[int, int], None] | None = None,
    ) -> Path:
        """Write the reference with this SHA256 to `local`: from the cache if it holds a
        verified copy, else from storage (once per process: other threads wait), then
        into the cache (a large one from its second use on). A local store may hand
        out a hard link to its data file, but only to a caller that `only_read`s it: a
        file given to a user is a copy, or writing to it in place would change the
        stored reference and every delta made against it.

        `written` hears of each range of `local` as it lands (a reader may use them
        before the SHA256 is checked, never trust them before this returns); of the
        whole file at the end when it did not come from a download of its own bytes."""
        with self._fetches.held(sha256):
            if self.cache.fetch(sha256, local):
                if self.hasher.file_sha256(local) == sha256:
                    _tell_whole(written, local)
                    return local
                self.logger.warning(
                    "cached reference %s failed verification: fetching it again", sha256
                )
                self.cache.discard(sha256)
                local.unlink(missing_ok=True)
            storage = self.storage
            linked = (
                only_read
                and isinstance(storage, LinkingStorage)
                and storage.link(bucket, key, local)
            )
            try:
                hashed = None if linked else self._download(bucket, key, local, written)
            except ObjectNotFound:
                raise ReferenceMissing(bucket, key) from None
            actual = hashed or self.hasher.file_sha256(local)
            if actual != sha256:
                actual = self._unpacked(bucket, key, local) or actual
            if actual != sha256:
                raise ReferenceChanged(
                    f"reference s3://{bucket}/{key} has SHA256 {actual}, expected {sha256}"
                )
            self.metrics.increment("reference.fetch")
            _tell_whole(written, local)
            if self._worth_caching(sha256, local.stat().st_size):
                self.cache.store(sha256, local)
            return local

    def _download(
        self, bucket: str, key: str, local: Path, written: Callable[[int, int], None] | None
    ) -> str | None:
        """Download a reference; its SHA256 when the store hashed it on the way.
        `written` hears of the ranges landing only when they are the reference's own
        bytes, not a compressed frame of them (asked of its metadata first)."""
        if isinstance(self.storage, HashingStorage):
            if written is not None and self._packed(bucket, key):
                written = None
            return self.storage.download_hashed(bucket, key, local, written=written)
        self.storage.download(bucket, key, local)
        return None

    def _packed(self, bucket: str, key: str) -> bool:
        """Whether the reference is stored compressed (`dg-encoding`); unknown: True."""
        info = self.storage.head(bucket, key)
        if info is None:
            raise ObjectNotFound(bucket, key)
        try:
            return read_reference(info.metadata).encoding is not None
        except FormatError:
            return True

    def _worth_caching(self, sha256: str, size: int) -> bool:
        """Whether to copy a reference into the cache now: never from a store on local
        disk (its own cache), a small one at once, a large one when this process has
        used it before."""
        if self._local:
            return False
        if size <= CACHED_AT_ONCE_UP_TO or self._used_once.get(sha256):
            return True
        self._used_once.put(sha256, True)
        return False

    def _unpacked(self, bucket: str, key: str, local: Path) -> str | None:
        """When the reference is stored compressed (its metadata's `dg-encoding` names
        the codec of its frame), decode it in place and return its SHA256."""
        info = self.storage.head(bucket, key)
        try:
            encoding = read_reference(info.metadata).encoding if info else None
        except FormatError:
            return None
        codec = self.codecs.get(encoding) if encoding else None
        if codec is None:
            if encoding:
                raise FormatError(f"reference s3://{bucket}/{key} is stored in {encoding!r}")
            return None
        packed, empty = local.with_name(local.name + ".packed"), local.with_name(local.name + ".0")
        local.rename(packed)
        empty.write_bytes(b"")
        try:
            codec.decode(empty, packed, local)
        except DiffError as exc:
            raise IntegrityError(f"reference s3://{bucket}/{key} is damaged ({exc})") from None
        finally:
            packed.unlink(missing_ok=True)
            empty.unlink(missing_ok=True)
        return self.hasher.file_sha256(local)

    def __len__(self) -> int:
        """How many DeltaSpaces' references are remembered (bounded)."""
        return len(self._known)

    @property
    def fetches_in_progress(self) -> int:
        return len(self._fetches)


def _tell_whole(written: Callable[[int, int], None] | None, local: Path) -> None:
    if written is not None:
        written(0, local.stat().st_size)


def _file_name(info: ObjectInfo) -> str:
    """The name of the file a reference was made from ("" when unreadable)."""
    try:
        return read_reference(info.metadata).name
    except FormatError:
        return ""


def _sketch(info: ObjectInfo) -> Sketch | None:
    """A reference's content sketch (None when it has none, or it is unreadable)."""
    try:
        return Sketch.from_text(read_reference(info.metadata).sketch)
    except FormatError:
        return None


def _shared_start(one: str, other: str) -> int:
    """How many leading characters two names share."""
    for count, (a, b) in enumerate(zip(one, other, strict=False)):
        if a != b:
            return count
    return min(len(one), len(other))
