"""Choosing, creating, confirming and fetching a DeltaSpace's references.

- Choosing: of the DeltaSpace's newest references, those whose content sketch is most
  like the new file's (core/sketch.py), and the one made from the file whose name shares
  the longest start with the new file's (for references without a sketch); and what
  deltas against a reference usually weigh.
- Creating: create-only (`If-None-Match: *`), so racing uploaders agree on one; on stores
  that ignore conditional writes (found out once per bucket by a probe written twice),
  references are named by their content instead.
- Confirming: after a delta is stored, its reference must still be there (gc_lock.py).
- Fetching: core/reference_fetch.py.

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
from deltaglider.core.bounded import RecentMap
from deltaglider.core.catalog import Catalog
from deltaglider.core.errors import (
    AlreadyExists,
    FormatError,
)
from deltaglider.core.metadata import ReferenceMeta, read_reference
from deltaglider.core.models import DELTA_SUFFIX, PROBE_PREFIX, DeltaSpace, is_reference_key
from deltaglider.core.policy import DRIFT_HISTORY
from deltaglider.core.reference_fetch import ReferenceFetcher
from deltaglider.core.scratch import scratch_dir
from deltaglider.core.sketch import Sketch
from deltaglider.ports import (
    CachePort,
    ClockPort,
    DiffPort,
    HashPort,
    LoggerPort,
    MetricsPort,
    ObjectInfo,
    StoragePort,
)

RECENT_REFERENCES = 16  # references of a DeltaSpace that new deltas may be made against
SKETCHED_CANDIDATES = 2  # most alike references offered, beside the one chosen by name
SPACES_REMEMBERED = 256  # DeltaSpaces (and buckets) whose references are kept
REMEMBERED_FOR = 60.0  # seconds before another process's new reference is seen


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
        self._fetcher = ReferenceFetcher(
            storage=storage, cache=cache, hasher=hasher, logger=logger, metrics=metrics,
            codecs=self.codecs,
        )  # fmt: skip
        self.fetch = self._fetcher.fetch  # a reference's bytes to a local file
        self.ranges = self._fetcher.ranges  # or read by ranges where it is stored
        self._lock = threading.Lock()
        self._known = RecentMap[DeltaSpace, list[ObjectInfo]](  # newest first
            SPACES_REMEMBERED, REMEMBERED_FOR
        )
        self._probe_lock = threading.Lock()
        self._exclusive_creates = RecentMap[str, bool](SPACES_REMEMBERED)  # by bucket

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
        unchanged: Callable[[], None] | None = None,
    ) -> int | None:
        """Write the file as a reference unless one exists at `key` (`packed`: a frame
        of it by the named codec, stored instead, `dg-encoding`); the bytes stored when
        the key now holds this file (a content-named key may already hold the same
        bytes: 0), None when it holds another. The cache keeps the file itself, copied
        there while it uploads (kept by its SHA256, the copy is right whatever the
        upload's outcome). `unchanged` guards a file read where it is, stored as itself
        (StoragePort.upload); a frame of it was checked to decode to it."""
        stored, encoding = packed if packed is not None else (source, None)
        reference = ReferenceMeta(
            name, sha256, size, self.clock.now(), self.tool,
            sketch.to_text() if sketch else None, encoding,
        )  # fmt: skip
        with ThreadPoolExecutor(1) as aside:
            caching = (
                aside.submit(self.cache.store, sha256, source)
                if self._fetcher.worth_caching(sha256, size)
                else None
            )
            try:
                etag: str | None = self.storage.upload(
                    space.bucket, key, stored, reference.to_metadata(), create_only=True,
                    unchanged=unchanged if packed is None else None,
                )  # fmt: skip
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

    def __len__(self) -> int:
        """How many DeltaSpaces' references are remembered (bounded)."""
        return len(self._known)

    @property
    def fetches_in_progress(self) -> int:
        return self._fetcher.in_progress


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
