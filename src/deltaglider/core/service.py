"""DeltaService: the use cases over the ports, moving streams, for every way in.

put (a stream in, spooled once and hashed as it is read), open (a logical object out as
a stream, whole or a byte range, checked first), get (into a local file), head, verify,
delete, copy, the logical view and stats. Each concept has its module: the references of
each DeltaSpace (core/references.py), encoding and decoding (core/encoding.py), reading
and checking (core/reader.py), the logical view and its listing index
(core/catalog.py). Every delta is decoded and checked before it is stored; every read is
checked against the SHA256 recorded at upload before a byte of it is handed out.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from deltaglider.core.attributes import Attributes, is_plain_md5, quoted
from deltaglider.core.catalog import Catalog
from deltaglider.core.encoding import Content, Encoded, Encoder
from deltaglider.core.errors import (
    BadDigest,
    BucketNotEmpty,
    BucketNotFound,
    DeltaGliderError,
    InvalidKeyError,
    ObjectChanged,
    ObjectNotFound,
    ReferenceMissing,
    StorageError,
)
from deltaglider.core.index import IndexEntry
from deltaglider.core.limits import KEY_LIMIT, fits_key
from deltaglider.core.listing import ListPage
from deltaglider.core.metadata import DeltaMeta, DirectMeta, read_direct, read_reference
from deltaglider.core.models import (
    DELTA_SUFFIX,
    ByteRange,
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
from deltaglider.core.reader import READ_ATTEMPTS, ObjectStream, Reader
from deltaglider.core.references import References
from deltaglider.core.scratch import scratch_dir
from deltaglider.core.spool import Spooled, spool
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


@dataclass(frozen=True)
class _Upload:
    """A spooled body on its way into the store, and what the logical object will say."""

    body: Spooled
    dest: ObjectKey
    mtime: datetime
    attributes: Attributes

    @property
    def source(self) -> Path:
        return self.body.path()

    @property
    def sha256(self) -> str:
        return self.body.sha256

    @property
    def size(self) -> int:
        return self.body.size

    @property
    def etag(self) -> str:
        """The logical object's ETag, unquoted."""
        return self.attributes.etag or self.body.etag


@dataclass(frozen=True)
class _StoredDelta:
    """A delta just stored, not yet confirmed: the reference it needs, and its ETag."""

    result: PutResult
    etag: str
    ref_key: str
    ref_sha256: str


class _Contended(Exception):
    """Another writer changed the DeltaSpace's references under this upload: try again."""


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
    ) -> None:
        """`diff` encodes new deltas; `codecs` (by name) also decode the deltas others
        made; `containers` (by kind) unwrap compressed files for their deltas."""
        self.storage = storage
        self.buckets = buckets
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
        self.reader = Reader(
            storage=storage,
            catalog=self.catalog,
            references=self.references,
            encoder=self.encoder,
            policy=policy,
            hasher=hasher,
            logger=logger,
            metrics=metrics,
        )

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
        no_delta: bool = False,
    ) -> PutResult:
        """Store a body (a stream of known or unknown length) under `dest`, as a delta
        when that pays, else as itself. `size`, when given, must be what arrives
        (IncompleteBody otherwise); `content_md5` (base64, as the Content-MD5 header
        has it) must be the body's (BadDigest otherwise). Nothing is stored on failure."""
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
                no_delta=no_delta,
            )

    def spool(
        self, body: BinaryIO | Iterable[bytes], *, size: int | None = None
    ) -> AbstractContextManager[Spooled]:
        """Read a body once, hashing it (core/spool.py); `store` it, or drop it by leaving
        the block. A way in that must check the body before storing it (a signature, a
        file that must not have changed) does so in between."""
        return spool(body, size=size)

    def store(
        self,
        dest: ObjectKey,
        body: Spooled,
        *,
        mtime: datetime | None = None,
        content_type: str | None = None,
        user_metadata: Mapping[str, str] | None = None,
        etag: str | None = None,
        part_sizes: tuple[int, ...] = (),
        no_delta: bool = False,
    ) -> PutResult:
        """Store a spooled body under `dest`. The logical object's ETag is the body's
        (`etag` overrides it, with the `part_sizes` it was made from, for a multipart
        upload); `mtime` is the file's own time (`dg-file-mtime`), now by default."""
        started = time.monotonic()
        name = dest.name
        if is_reserved_name(name) and not fits_key(dest.delta_key):
            raise InvalidKeyError(
                f"key too long for DeltaGlider to store this name ({name} is kept as "
                f"{name}{DELTA_SUFFIX}, within S3's {KEY_LIMIT:,}-byte keys)"
            )
        attributes = Attributes(
            etag=etag or body.etag,
            content_type=content_type,
            user_metadata=dict(user_metadata or {}),
            part_sizes=part_sizes,
        )
        upload = _Upload(body, dest, mtime or self.clock.now(), attributes)
        wants_delta = (
            not no_delta
            and self.policy.should_use_delta(name, body.size)
            and dest.fits_delta  # else stored whole: as a delta it would not fit S3's keys
        )
        result = None
        if wants_delta:
            with scratch_dir() as work:
                try:
                    result = self._put_delta(upload, work)
                except BucketNotFound:  # found looking for references: say it as S3 would
                    raise BucketNotFound(dest.bucket, "PutObject") from None
        if result is None:
            result = self._put_direct(upload, tried_delta=wants_delta)
        self.metrics.increment(f"put.{result.stored_as.value}")
        self.metrics.timing("put", time.monotonic() - started)
        return result

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
            attributes=upload.attributes,
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
            etag=quoted(upload.etag),
        )
        return _StoredDelta(stored, etag, ref_key, ref_sha256)

    def _settle_delta(self, upload: _Upload, stored: _StoredDelta) -> None:
        """A confirmed delta goes into the listing index, and replaces the direct form."""
        dest = upload.dest
        ref_name = stored.ref_key.rsplit("/", 1)[-1]
        entry = IndexEntry(
            stored.etag,
            upload.size,
            upload.mtime,
            ref_name,
            stored.result.stored_size,
            file_etag=upload.etag,
        )
        self.catalog.record(dest.delta_space, dest.delta_key, entry)
        if not is_reserved_name(dest.name):  # a reserved name's own key is never the user's
            self._delete_if_present(dest.bucket, dest.key)

    def _put_direct(self, upload: _Upload, *, tried_delta: bool) -> PutResult:
        """Store the file as itself: under its own key, or, for a reserved name (which
        would read as an internal object there), under `{key}.delta` marked direct."""
        dest = upload.dest
        meta = DirectMeta(
            dest.name,
            upload.sha256,
            upload.size,
            upload.mtime,
            self.clock.now(),
            self.tool,
            upload.attributes,
        )
        key = _whole_key(dest)
        etag = self.storage.upload(dest.bucket, key, upload.body.source(), meta.to_metadata())
        self._settle_whole(dest, key, etag, meta)
        return PutResult(
            key=dest,
            stored_as=StoredAs.DIRECT,
            stored_key=key,
            file_size=upload.size,
            file_sha256=upload.sha256,
            stored_size=upload.size,
            created_reference=False,
            reason="delta too large" if tried_delta else "not a delta candidate",
            etag=quoted(upload.etag),
        )

    def _settle_whole(self, dest: ObjectKey, key: str, etag: str, meta: DirectMeta) -> None:
        """An object just stored whole goes into the listing index where listings need it,
        and replaces the delta form of its key."""
        self.catalog.note_stored(dest.bucket, key, present=True)
        if key != dest.key or not is_plain_md5(etag):
            # Indexed, so that listings need no HEAD for its size or ETag: a reserved name
            # is listed as `.delta`, and this store's ETag is not the object's MD5.
            entry = IndexEntry(etag, meta.size, meta.mtime or self.clock.now(),
                               file_etag=meta.attributes.etag)  # fmt: skip
            self.catalog.record(dest.delta_space, key, entry)
        if key == dest.key and self.catalog.exists(dest.bucket, dest.delta_key):
            # an earlier version was a delta
            self.storage.delete(dest.bucket, dest.delta_key)
            self.catalog.note_stored(dest.bucket, dest.delta_key, present=False)
            self.catalog.record(dest.delta_space, dest.delta_key, None)

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
        """Copy a logical object to another key (any bucket), with its Content-Type and
        user metadata, or those of `replace` (S3's MetadataDirective REPLACE).

        An object stored whole that the destination would store whole too is copied
        inside the store, its bytes never leaving it, bound to the version found (a
        version overwritten meanwhile means looking again); anything else is read,
        checked and stored anew."""
        for _ in range(READ_ATTEMPTS):
            stored = self.reader.find(source)
            whole = (
                read_direct(stored.info.metadata) if stored.stored_as is StoredAs.DIRECT else None
            )
            stays_whole = no_delta or not self.policy.should_use_delta(dest.name, stored.info.size)
            if whole is None or not stays_whole:
                break
            try:
                return self._copy_whole(source.bucket, stored.info, whole, dest, replace)
            except ObjectChanged:
                continue
        with self.open(source) as stream:
            kept = replace or Attributes(
                content_type=stream.info.content_type,
                user_metadata=stream.info.user_metadata or {},
            )
            return self.put(
                dest,
                stream,
                size=stream.info.size,
                content_type=kept.content_type,
                user_metadata=kept.user_metadata,
                no_delta=no_delta,
            )

    def _copy_whole(
        self, bucket: str, info: ObjectInfo, whole: DirectMeta, dest: ObjectKey,
        replace: Attributes | None,
    ) -> PutResult:  # fmt: skip
        """A server-side copy of an object stored whole, under its new name; ObjectChanged
        when the version found is no longer there."""
        kept = whole.attributes
        attributes = Attributes(
            etag=kept.etag or info.etag.strip('"'),
            content_type=(replace or kept).content_type,
            user_metadata=(replace or kept).user_metadata,
            part_sizes=kept.part_sizes,
        )
        meta = DirectMeta(
            dest.name, whole.sha256, whole.size, whole.mtime, self.clock.now(), self.tool,
            attributes,
        )  # fmt: skip
        key = _whole_key(dest)
        etag = self.storage.copy(
            bucket, info.key, dest.bucket, key, metadata=meta.to_metadata(), if_match=info.etag
        )
        self._settle_whole(dest, key, etag, meta)
        self.metrics.increment("copy.whole")
        return PutResult(
            key=dest,
            stored_as=StoredAs.DIRECT,
            stored_key=key,
            file_size=whole.size,
            file_sha256=whole.sha256,
            stored_size=whole.size,
            created_reference=False,
            reason="copied inside the store",
            etag=quoted(attributes.etag or etag),
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


def _stored_forms(key: ObjectKey) -> list[str]:
    """The stored keys a logical key may be kept under (those S3 can hold)."""
    forms = [key.delta_key] if is_reserved_name(key.name) else [key.key, key.delta_key]
    return [form for form in forms if fits_key(form)]


def _whole_key(dest: ObjectKey) -> str:
    """Where an object stored whole lives: its own key, or `{key}.delta` for a reserved
    name (its own key would read as an internal object)."""
    return dest.delta_key if is_reserved_name(dest.name) else dest.key


def _as_reference(upload: _Upload) -> tuple[Path, str, str, int]:
    """What a reference made from an upload records: its bytes, name, SHA256, size."""
    return upload.source, upload.dest.name, upload.sha256, upload.size
