"""DeltaService: the use cases over the ports, moving streams, for every way in.

put (a stream in, spooled once and hashed as it is read), open (a logical object out as
a stream, whole or a byte range, checked first), get (into a local file), head, verify,
delete, copy, the logical view and stats. Each concept has its module: writing
(core/writer.py), reading and checking (core/reader.py), the references of each
DeltaSpace (core/references.py), encoding and decoding (core/encoding.py), the logical
view and its listing index (core/catalog.py). Every delta is decoded and checked before
it is stored; every read is checked against the SHA256 recorded at upload before a byte
of it is handed out.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from deltaglider.core.attributes import Attributes, is_plain_md5
from deltaglider.core.budget import DEFAULT_MAX_MEMORY_MB, MIB, MemoryBudget
from deltaglider.core.catalog import Catalog
from deltaglider.core.errors import (
    BadDigest,
    BucketNotEmpty,
    BucketNotFound,
    DeltaGliderError,
    ObjectChanged,
    ObjectNotFound,
)
from deltaglider.core.interruption import Interruption
from deltaglider.core.limits import fits_key
from deltaglider.core.listing import ListPage
from deltaglider.core.metadata import read_direct
from deltaglider.core.models import (
    DELTA_SUFFIX,
    ByteRange,
    DeleteResult,
    Description,
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
from deltaglider.ports import (
    ArchivePort,
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

if TYPE_CHECKING:
    from deltaglider.core.encoding import Encoder
    from deltaglider.core.reader import ObjectStream, Reader
    from deltaglider.core.references import References
    from deltaglider.core.spool import Spooled
    from deltaglider.core.writer import Writer


class _Transfer(NamedTuple):
    """The parts that move bytes (DeltaService._transfer)."""

    references: References
    encoder: Encoder
    writer: Writer
    reader: Reader


class DeltaService:
    """Stores objects as deltas against a per-DeltaSpace reference, and rebuilds them."""

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
        archive: ArchivePort | None = None,
        memory: MemoryBudget | None = None,
    ) -> None:
        """`diff` encodes new deltas; `codecs` (by name) also decode the deltas others
        made; `archive` looks inside containers for their deltas; `containers` (by kind)
        unwrap gzip files too large for it, and read what they wrote. `memory` is what
        parallel transfers may hold together (core/budget.py)."""
        self.storage = storage
        self.buckets = buckets
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.policy = policy
        self.tool = tool
        self.interruption = Interruption()  # interrupt() stops work at its next safe point
        self.memory = memory or MemoryBudget(DEFAULT_MAX_MEMORY_MB * MIB)
        self.catalog = Catalog(storage=storage, logger=logger)
        self._diff, self._codecs, self._containers = diff, codecs or {}, containers or {}
        self._archive, self._hasher, self._cache = archive, hasher, cache
        self._built: _Transfer | None = None
        self._build_lock = threading.Lock()

    @property
    def references(self) -> References:
        return self._transfer().references

    @property
    def encoder(self) -> Encoder:
        return self._transfer().encoder

    @property
    def writer(self) -> Writer:
        return self._transfer().writer

    @property
    def reader(self) -> Reader:
        return self._transfer().reader

    def _transfer(self) -> _Transfer:
        """The references, encoder, writer and reader, built (their modules imported)
        on first use: a command that only lists (`ls`) starts without them."""
        with self._build_lock:
            if self._built is None:
                self._built = self._build_transfer()
            return self._built

    def _build_transfer(self) -> _Transfer:
        from deltaglider.core.encoding import Encoder  # noqa: PLC0415 (see _transfer)
        from deltaglider.core.reader import Reader  # noqa: PLC0415
        from deltaglider.core.references import References  # noqa: PLC0415
        from deltaglider.core.writer import Writer  # noqa: PLC0415

        references = References(
            storage=self.storage,
            catalog=self.catalog,
            cache=self._cache,
            hasher=self._hasher,
            clock=self.clock,
            logger=self.logger,
            metrics=self.metrics,
            tool=self.tool,
            codecs={self._diff.codec: self._diff, **self._codecs},
        )
        encoder = Encoder(
            diff=self._diff,
            codecs=self._codecs,
            containers=self._containers,
            archive=self._archive,
            hasher=self._hasher,
            policy=self.policy,
            logger=self.logger,
            tool=self.tool,
        )
        writer = Writer(
            storage=self.storage,
            catalog=self.catalog,
            references=references,
            encoder=encoder,
            policy=self.policy,
            clock=self.clock,
            logger=self.logger,
            metrics=self.metrics,
            tool=self.tool,
            interruption=self.interruption,
        )
        reader = Reader(
            storage=self.storage,
            catalog=self.catalog,
            references=references,
            encoder=encoder,
            policy=self.policy,
            hasher=self._hasher,
            logger=self.logger,
            metrics=self.metrics,
            interruption=self.interruption,
        )
        return _Transfer(references, encoder, writer, reader)

    # ----------------------------------------------------------------- put

    def put(
        self,
        dest: ObjectKey,
        body: BinaryIO | Iterable[bytes],
        *,
        size: int | None = None,
        content_md5: str | None = None,
        mtime: datetime | None = None,
        content_type: str | None = None,
        user_metadata: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        no_delta: bool = False,
    ) -> PutResult:
        """Store a body (a stream of known or unknown length) under `dest`, as a delta
        when that pays, else as itself. `size`, when given, must be what arrives
        (IncompleteBody otherwise); `content_md5` (base64, as the Content-MD5 header
        has it) must be the body's (BadDigest otherwise); `headers` are those S3 keeps
        with an object (attributes.KEPT_HEADERS). Nothing is stored on failure."""
        with self.spool(body, size=size) as spooled:
            if content_md5 is not None:
                actual = base64.b64encode(bytes.fromhex(spooled.md5)).decode()
                if actual != content_md5.strip():
                    raise BadDigest(content_md5, actual)
            return self.store(
                dest,
                spooled,
                mtime=mtime,
                content_type=content_type,
                user_metadata=user_metadata,
                headers=headers,
                no_delta=no_delta,
            )

    def spool(
        self, body: BinaryIO | Iterable[bytes], *, size: int | None = None
    ) -> AbstractContextManager[Spooled]:
        """Read a body once, hashing it (core/spool.py); `store` it, or drop it by leaving
        the block. A way in that must check the body before storing it (a signature, a
        file that must not have changed) does so in between."""
        from deltaglider.core.spool import spool  # noqa: PLC0415 (see _transfer)

        return spool(body, size=size, check=self.interruption.check)

    def spool_file(
        self, path: Path, unchanged: Callable[[], None]
    ) -> AbstractContextManager[Spooled]:
        """A large local file hashed where it is, not copied (core/spool.py): every store
        of it calls `unchanged` before publishing, which raises when it changed."""
        from deltaglider.core.spool import spool_file  # noqa: PLC0415 (see _transfer)

        return spool_file(path, unchanged, check=self.interruption.check)

    def store(
        self,
        dest: ObjectKey,
        body: Spooled,
        *,
        mtime: datetime | None = None,
        content_type: str | None = None,
        user_metadata: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        etag: str | None = None,
        part_sizes: tuple[int, ...] = (),
        no_delta: bool = False,
    ) -> PutResult:
        """Store a spooled body under `dest` (see Writer.store)."""
        return self.writer.store(
            dest,
            body,
            mtime=mtime,
            content_type=content_type,
            user_metadata=user_metadata,
            headers=headers,
            etag=etag,
            part_sizes=part_sizes,
            no_delta=no_delta,
        )

    # ----------------------------------------------------------------- read

    def open(
        self, key: ObjectKey, *, byte_range: ByteRange | None = None
    ) -> AbstractContextManager[ObjectStream]:
        """A logical object as a stream (core/reader.py): rebuilt and checked first, then
        read from that one checked version; `byte_range` for part of it."""
        return self.reader.open(key, byte_range)

    def get(self, source: ObjectKey, dest: Path) -> GetResult:
        """Rebuild a logical object into a local file (see Reader.get)."""
        return self.reader.get(source, dest)

    def head(self, key: ObjectKey) -> LogicalObject:
        """A logical object's size, time, ETag, Content-Type and user metadata."""
        return self.reader.head(key)

    def describe(self, key: ObjectKey) -> Description:
        """How a logical object is stored: delta or whole, its reference and codec."""
        return self.reader.describe(key)

    def verify(self, source: ObjectKey) -> VerifyResult:
        """Rebuild an object in a scratch directory and compare SHA256s; keep nothing."""
        return self.reader.verify(source)

    def copy(
        self,
        source: ObjectKey,
        dest: ObjectKey,
        *,
        no_delta: bool = False,
        replace: Attributes | None = None,
    ) -> PutResult:
        """Copy a logical object to another key (any bucket), with its Content-Type, user
        metadata and kept headers, or those of `replace` (S3's MetadataDirective REPLACE).

        An object stored whole that the destination would store whole too is copied
        inside the store, its bytes never leaving it, bound to the version found (a
        version overwritten meanwhile means looking again); anything else is read,
        checked and stored anew."""
        from deltaglider.core.reader import READ_ATTEMPTS  # noqa: PLC0415 (see _transfer)

        for _ in range(READ_ATTEMPTS):
            stored = self.reader.find(source)
            whole = (
                read_direct(stored.info.metadata) if stored.stored_as is StoredAs.DIRECT else None
            )
            stays_whole = no_delta or not self.policy.should_use_delta(dest.name, stored.info.size)
            if whole is None or not stays_whole:
                break
            try:
                return self.writer.copy_whole(source.bucket, stored.info, whole, dest, replace)
            except ObjectChanged:
                continue
        with self.open(source) as stream:
            kept = replace or Attributes(
                content_type=stream.info.content_type,
                user_metadata=stream.info.user_metadata or {},
                headers=stream.info.headers or {},
            )
            return self.put(
                dest,
                stream,
                size=stream.info.size,
                content_type=kept.content_type,
                user_metadata=kept.user_metadata,
                headers=kept.headers,
                no_delta=no_delta,
            )

    # ----------------------------------------------------------------- delete

    def delete(self, key: ObjectKey) -> DeleteResult:
        """Delete a logical object. Its reference stays: references no delta uses are
        removed by garbage collection (core/gc.py), never beside an upload that may be
        making a delta against them.

        Like an S3 DELETE, deleting a key that is not there succeeds (and deletes nothing).
        """
        try:
            stored = self.reader.locate(key)
        except ObjectNotFound:
            if not self.buckets.bucket_exists(key.bucket):
                raise BucketNotFound(key.bucket, "DeleteObject") from None
            return DeleteResult(key, None)
        self.storage.delete(key.bucket, stored.info.key)
        self.catalog.note_stored(key.bucket, stored.info.key, present=False)
        if stored.info.key.endswith(DELTA_SUFFIX) or not is_plain_md5(stored.info.etag):
            self.catalog.record(key.delta_space, stored.info.key, None)  # it had an entry
        self.metrics.increment("delete")
        return DeleteResult(key, stored.info.key)

    def delete_many(
        self, bucket: str, keys: Sequence[str]
    ) -> list[tuple[str, DeltaGliderError | None]]:
        """Delete many logical objects of one bucket, as S3's DeleteObjects does: each
        key with its error, or None when it is gone (a key that was not there included).
        Both stored forms of every key go in batched requests, with no HEAD per key (a
        reserved name has only its `.delta` form); references stay, as for `delete`."""
        forms = {key: _stored_forms(ObjectKey(bucket, key)) for key in keys}
        refused = dict(self.storage.delete_many(bucket, [f for fs in forms.values() for f in fs]))
        results: list[tuple[str, DeltaGliderError | None]] = []
        with self.catalog.batch():
            for key, stored_keys in forms.items():
                space = ObjectKey(bucket, key).delta_space
                for stored_key in stored_keys:
                    if stored_key not in refused:
                        self.catalog.note_stored(bucket, stored_key, present=False)
                        self.catalog.record(space, stored_key, None)
                errors = [refused[k] for k in stored_keys if k in refused]
                results.append((key, errors[0] if errors else None))
        self.metrics.increment("delete", len(keys))
        return results

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


def _stored_forms(key: ObjectKey) -> list[str]:
    """The stored keys a logical key may be kept under (those S3 can hold)."""
    forms = [key.delta_key] if is_reserved_name(key.name) else [key.key, key.delta_key]
    return [form for form in forms if fits_key(form)]
