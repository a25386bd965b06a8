"""The catalog: the logical view of a bucket, and the bookkeeping that makes it cheap.

- The logical view: stored objects as users see them (`K.delta` shown as `K`, internal
  objects hidden), in S3's order of the logical keys (core/listing.py), paged, each
  delta's original size from its folder's listing index.
- The listing index (core/index.py): written after deltas are stored or deleted, once
  per DeltaSpace per batch; read per folder by listings, and per DeltaSpace by the
  reference policy (what deltas usually weigh).
- Batch listings: inside a batch (one command: a recursive copy, a sync), a complete
  recursive listing answers "is this key stored?" instead of a HEAD per object.
- Stats: logical against stored bytes per folder.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice

from deltaglider.core.attributes import etag_for, is_plain_md5, quoted, read_attributes
from deltaglider.core.bounded import RecentMap
from deltaglider.core.errors import DeltaGliderError, FormatError, ObjectNotFound
from deltaglider.core.index import FolderIndexes, IndexEntry, parse_index, render_index
from deltaglider.core.limits import fits_key
from deltaglider.core.listing import HOLD, Listed, ListPage, logical_order
from deltaglider.core.metadata import read_delta, stored_kind
from deltaglider.core.models import (
    DELTA_SUFFIX,
    INDEX_NAME,
    DeltaForm,
    DeltaSpace,
    LogicalObject,
    SpaceStats,
    StoredAs,
    folder_of,
    is_reference_key,
    logical_key,
)
from deltaglider.core.scratch import scratch_dir
from deltaglider.ports import CommonPrefix, LoggerPort, ObjectInfo, StoragePort

SPACES_REMEMBERED = 256  # DeltaSpaces whose listing index the reference policy keeps
REMEMBERED_FOR = 60.0  # seconds before another process's index entries are seen


class Catalog:
    """The logical view of the store one service works with."""

    def __init__(self, *, storage: StoragePort, logger: LoggerPort) -> None:
        self.storage = storage
        self.logger = logger
        self._lock = threading.Lock()
        self._space_indexes = RecentMap[DeltaSpace, dict[str, IndexEntry]](
            SPACES_REMEMBERED, REMEMBERED_FOR
        )
        self._batches = 0
        self._index_updates: dict[DeltaSpace, dict[str, IndexEntry | None]] = {}
        self._listed: dict[str, list[tuple[str, set[str]]]] = {}  # bucket: (prefix, keys)
        self._writes = 0  # this process's writes and deletes noted so far

    # ----------------------------------------------------------------- the logical view

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
            index = indexes.get(folder_of(info.key)) if _needs_index(info) else {}
            # An entry found by a direct look-up (core/listing.py) carries its metadata.
            logical = self.logical(bucket, info, index, head=info if info.metadata else None)
            if logical is not None:
                yield logical

    def logical(
        self,
        bucket: str,
        entry: ObjectInfo,
        index: Mapping[str, IndexEntry] | None = None,
        head: ObjectInfo | None = None,
    ) -> LogicalObject | None:
        """A stored object as users see it (None for an internal one), with the size and
        ETag of the logical object. They come from the listing where it tells (a plain
        object's MD5 ETag), else from the folder's index when it vouches for this very
        object (same stored ETag), else from the object's metadata (`head`, or a HEAD);
        Content-Type and user metadata come only with that metadata."""
        key = logical_key(entry.key)
        if key is None:
            return None
        stored_as = StoredAs.DELTA if entry.key.endswith(DELTA_SUFFIX) else StoredAs.DIRECT
        known = (index or {}).get(entry.key.rsplit("/", 1)[-1])
        if known is not None and not (entry.etag and known.etag == entry.etag):
            known = None  # written for another version of the object
        # Times are the stored object's, as S3 shows them: `ls` and `sync` then agree
        # with `aws s3` line for line (the file's own mtime stays in dg-file-mtime). In
        # whole seconds: a HEAD says no more (HTTP dates), though some listings do (Ceph).
        modified = entry.last_modified.replace(microsecond=0)
        listed = functools.partial(LogicalObject, key, last_modified=modified, stored_key=entry.key)
        if head is None:
            if stored_as is StoredAs.DIRECT and is_plain_md5(entry.etag):
                return listed(entry.size, stored_as=stored_as, stored_size=entry.size,
                              etag=entry.etag)  # fmt: skip
            if known is not None and known.file_etag is not None:
                whole = known.ref is None and known.delta_size is None
                return listed(
                    known.size,
                    stored_as=StoredAs.DIRECT if whole else stored_as,
                    stored_size=entry.size,
                    etag=quoted(known.file_etag),
                    form=None if whole else known.form,
                )
            head = self.storage.head(bucket, entry.key)
        return self._from_metadata(listed, entry, stored_as, head)

    def _from_metadata(
        self,
        listed: Callable[..., LogicalObject],
        entry: ObjectInfo,
        stored_as: StoredAs,
        head: ObjectInfo | None,
    ) -> LogicalObject:
        """The logical object as its stored object's metadata describes it."""
        if head is None:  # gone since it was listed: what the listing said
            return listed(entry.size, stored_as=stored_as, stored_size=entry.size,
                          etag=entry.etag)  # fmt: skip
        size, etag, form = entry.size, entry.etag, None
        if stored_as is StoredAs.DELTA and stored_kind(head.metadata) == "direct":
            stored_as = StoredAs.DIRECT  # a reserved name, stored whole
        attributes = read_attributes(head.metadata)
        if stored_as is StoredAs.DELTA:
            try:
                meta = read_delta(head.metadata, entry.key)
            except FormatError as exc:
                self.logger.warning("s3://%s: %s", entry.key, exc)
            else:
                size, etag = meta.size, quoted(attributes.etag or etag_for(meta.sha256))
                form = DeltaForm.CONTENT if meta.container else DeltaForm.RAW
        elif attributes.etag is not None:
            etag = quoted(attributes.etag)
        return listed(
            size,
            stored_as=stored_as,
            stored_size=entry.size,
            etag=etag,
            content_type=attributes.content_type,
            user_metadata=attributes.user_metadata,
            form=form,
            headers=attributes.headers,
            part_sizes=attributes.part_sizes,
        )

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
            needed = _needs_index(entry) and logical_key(entry.key) is not None
            logical = self.logical(bucket, entry, indexes.get(folder) if needed else {})
            if logical is None:
                if is_reference_key(entry.key):
                    tally.references += 1
                    tally.reference_bytes += entry.size
            else:
                tally.objects += 1
                tally.deltas += logical.stored_as is StoredAs.DELTA
                tally.content_deltas += logical.form == DeltaForm.CONTENT
                tally.logical_bytes += logical.size
        return [tally.freeze(folder) for folder, tally in sorted(tallies.items())]

    # ----------------------------------------------------------------- listing index

    def _folder_indexes(self, bucket: str) -> FolderIndexes:
        return FolderIndexes(lambda folder: self._read_index(bucket, folder + INDEX_NAME))

    def _read_index(self, bucket: str, key: str) -> dict[str, IndexEntry]:
        with scratch_dir() as work:
            try:
                self.storage.download(bucket, key, work / "index.json")
            except ObjectNotFound:
                return {}
            return parse_index((work / "index.json").read_bytes())

    def space_index(self, space: DeltaSpace) -> dict[str, IndexEntry]:
        """The DeltaSpace's index entries (a snapshot), read once until it expires and
        kept current with this process's own writes."""
        entries = self._space_indexes.get(space)
        if entries is None:
            entries = self._read_index(space.bucket, space.index_key)
            entries = self._space_indexes.setdefault(space, entries)
        with self._lock:
            return dict(entries)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One command's worth of operations (a recursive copy, a sync): each DeltaSpace's
        listing index is written once, at the end, instead of after every object, and
        recursive listings taken within answer "is this key stored?" instead of a HEAD
        per object (kept current with this process's own writes)."""
        with self._lock:
            self._batches += 1
        try:
            yield
        finally:
            with self._lock:
                self._batches -= 1
                pending = self._index_updates if self._batches == 0 else {}
                if self._batches == 0:
                    self._index_updates = {}
                    self._listed = {}
            for space, updates in pending.items():
                self._write_index(space, updates)

    def record(self, space: DeltaSpace, stored_key: str, entry: IndexEntry | None) -> None:
        """Note in the DeltaSpace's index what `stored_key` stands for (None: it is gone)."""
        name = stored_key.rsplit("/", 1)[-1]
        with self._lock:
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
            before = dict(entries)
            for name, entry in updates.items():
                if entry is None:
                    entries.pop(name, None)
                else:
                    entries[name] = entry
            if entries == before:
                return  # nothing the index does not say already
            if not entries:
                self.storage.delete(space.bucket, space.index_key)
                return
            with scratch_dir() as work:
                (work / "index.json").write_bytes(render_index(entries))
                self.storage.upload(space.bucket, space.index_key, work / "index.json", {})
        except DeltaGliderError as exc:
            self.logger.warning("listing index of %s not updated: %s", space, exc)

    # ----------------------------------------------------------------- batch listings

    def _remembered(
        self, bucket: str, prefix: str, stored: Iterable[ObjectInfo | CommonPrefix]
    ) -> Iterator[ObjectInfo | CommonPrefix]:
        """A complete recursive listing, passed through; read to its end within a batch,
        it then answers "is this key stored?" (unless this process wrote meanwhile: the
        listing may have passed the key before or after the write)."""
        with self._lock:
            batched, writes = self._batches > 0, self._writes
        if not batched:
            yield from stored
            return
        keys: set[str] = set()
        for entry in stored:
            if isinstance(entry, ObjectInfo):
                keys.add(entry.key)
            yield entry
        with self._lock:
            if self._batches and self._writes == writes:
                self._listed.setdefault(bucket, []).append((prefix, keys))

    def exists(self, bucket: str, key: str) -> bool:
        """Whether a stored key exists: from a listing taken in this batch, else a HEAD."""
        if not fits_key(key):  # never stored; a HEAD of one is a 400 (Ceph)
            return False
        with self._lock:
            listed = self._listing_covering(bucket, key)
            if listed is not None:
                return key in listed
        return self.storage.head(bucket, key) is not None

    def note_stored(self, bucket: str, key: str, *, present: bool) -> None:
        """Keep the batch's listing current with this process's own writes and deletes."""
        with self._lock:
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

    @property
    def remembered_spaces(self) -> int:
        """How many DeltaSpaces' indexes are remembered (bounded)."""
        return len(self._space_indexes)


def _needs_index(entry: ObjectInfo) -> bool:
    """Whether a listed object's size or ETag may take its folder's index to tell: a delta,
    or a direct object whose stored ETag is not its MD5 (multipart, or the filesystem's)."""
    return entry.key.endswith(DELTA_SUFFIX) or not is_plain_md5(entry.etag)


@dataclass
class _Tally:
    objects: int = 0
    deltas: int = 0
    references: int = 0
    logical_bytes: int = 0
    stored_bytes: int = 0
    content_deltas: int = 0
    reference_bytes: int = 0

    def freeze(self, prefix: str) -> SpaceStats:
        return SpaceStats(
            prefix,
            self.objects,
            self.deltas,
            self.references,
            self.logical_bytes,
            self.stored_bytes,
            self.content_deltas,
            self.reference_bytes,
        )
