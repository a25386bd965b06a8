"""Writing logical objects: a spooled body stored as a delta against its DeltaSpace's
reference (confirmed once the delta is stored), or whole; and copies of objects stored
whole, made inside the store.

A DeltaSpace without a reference gets the file as its reference, created create-only;
a file whose delta is poor next to the usual ones starts a new reference; a delta is
decoded and checked before it is stored, and its reference confirmed after (gc_lock.py):
a reference that went meanwhile means another attempt. An object stored whole under a
reserved name goes to `{key}.delta`, marked direct, so it never reads as an internal one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from deltaglider.core.attributes import Attributes, is_plain_md5, quoted
from deltaglider.core.catalog import Catalog
from deltaglider.core.encoding import Encoded, Encoder, Target
from deltaglider.core.errors import (
    BucketNotFound,
    InvalidKeyError,
    ReferenceChanged,
    ReferenceMissing,
    StorageError,
)
from deltaglider.core.index import IndexEntry
from deltaglider.core.interruption import Interruption
from deltaglider.core.limits import KEY_LIMIT, fits_key
from deltaglider.core.metadata import DeltaMeta, DirectMeta, ReferenceMeta, read_reference
from deltaglider.core.models import DELTA_SUFFIX, DeltaForm, ObjectKey, PutResult, StoredAs
from deltaglider.core.policy import DeltaPolicy, is_reserved_name
from deltaglider.core.references import References
from deltaglider.core.scratch import scratch_dir
from deltaglider.core.sketch import Sketch
from deltaglider.core.spool import Spooled
from deltaglider.ports import ClockPort, LoggerPort, MetricsPort, ObjectInfo, StoragePort

REFERENCE_ATTEMPTS = 5  # tries to settle a delta's reference while others change them
CANDIDATES_TRIED = 3  # references a file is delta'd against, at most, most alike first
TRY_MORE_ABOVE = 0.1  # a delta this large (of its file) is worth trying another reference
TRY_MORE_UP_TO = 512 * 1024 * 1024  # files larger are delta'd against one reference only


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

    @property
    def recorded(self) -> Attributes:
        """The attributes the stored object records: with the body's ETag unless one was
        given, asked for only now (a large body's MD5 is hashed while it uploads)."""
        return replace(self.attributes, etag=self.etag)


@dataclass(frozen=True)
class _StoredDelta:
    """A delta just stored, not yet confirmed: the reference it needs, and its ETag."""

    result: PutResult
    etag: str
    ref_key: str
    ref_sha256: str
    delta_size: int


class _Contended(Exception):
    """Another writer changed the DeltaSpace's references under this upload: try again."""


class Writer:
    """Stores spooled bodies as deltas or whole, and copies whole objects in place."""

    def __init__(
        self,
        *,
        storage: StoragePort,
        catalog: Catalog,
        references: References,
        encoder: Encoder,
        policy: DeltaPolicy,
        clock: ClockPort,
        logger: LoggerPort,
        metrics: MetricsPort,
        tool: str,
        interruption: Interruption,
    ) -> None:
        self.storage = storage
        self.catalog = catalog
        self.references = references
        self.encoder = encoder
        self.policy = policy
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.tool = tool
        self.interruption = interruption  # checked before anything new is stored

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
            etag=etag,  # else the body's, asked for once stored (_Upload.recorded)
            content_type=content_type,
            user_metadata=dict(user_metadata or {}),
            part_sizes=part_sizes,
            headers=dict(headers or {}),
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
        target = self.encoder.target(upload.source, upload.sha256, upload.dest.name, work)
        for attempt in range(REFERENCE_ATTEMPTS):
            if attempt:
                self.references.forget(space)
                time.sleep(0.05 * attempt)  # a racing writer's object may still land
            try:
                stored = self._attempt_delta(upload, target, work)
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

    def _attempt_delta(self, upload: _Upload, target: Target, work: Path) -> _StoredDelta | None:
        """One try at storing the file as a delta against the DeltaSpace's current
        reference: the delta stored, or None when the file is better stored whole;
        _Contended when another writer got in the way.

        A DeltaSpace without a reference gets this file as its reference, written
        create-only: of uploaders racing to create it, one wins and the others delta
        against the winner's. A file whose delta is poor next to the DeltaSpace's usual
        ones starts a new reference (DeltaPolicy.starts_new_reference).
        """
        space = upload.dest.delta_space
        sketch = self.encoder.sketch(target)
        candidates = self.references.candidates(space, upload.dest.name, sketch)
        if not candidates:  # this file becomes the DeltaSpace's first reference
            key = self.references.first_key(space, upload.sha256)
            created = self._as_new_reference(upload, target, key, sketch, "reference created")
            if created is None:
                raise _Contended
            return created
        ref_info, reference, ref_path, encoded = self._best_delta(upload, target, candidates, work)
        while True:
            ratio = encoded.size / upload.size if upload.size else 0.0
            usual = self.references.usual_ratio(space, ref_info.key, reference.name)
            if self.policy.starts_new_reference(ratio, usual):
                self.logger.debug(
                    "delta of %s is %.1f%% of it (usual %s): it becomes a new reference",
                    upload.dest, 100 * ratio, "-" if usual is None else f"{100 * usual:.1f}%",
                )  # fmt: skip
                key = space.named_reference_key(upload.sha256)
                created = self._as_new_reference(upload, target, key, sketch, "new reference")
                if created is not None:
                    return created
            elif not self.policy.keeps_delta(encoded.size, upload.size):
                self.logger.debug(
                    "delta of %s is %d of %d bytes, above the ratio %.2f: storing it whole",
                    upload.dest, encoded.size, upload.size, self.policy.max_ratio,
                )  # fmt: skip
                return None
            proven = self.encoder.checked(encoded, ref_path, target)
            self.interruption.check()
            if proven.path == encoded.path and proven.size == encoded.size:
                return self._store_delta(upload, proven, ref_info.key, reference.sha256, "delta")
            encoded = proven  # made again to be proven: decide again on what it weighs

    def _as_new_reference(
        self, upload: _Upload, target: Target, key: str, sketch: Sketch | None, reason: str
    ) -> _StoredDelta | None:
        """Write the file as a reference at `key` (unless another is there: None, see
        References.create), then its own delta: empty, as the file is its reference's
        bytes (Encoder.own_delta). A reference left without it by a failure is removed
        by gc, as after a crash (FORMAT.md section 4, writes, 7): removing it here could
        orphan a delta whose upload failed only after it landed."""
        own = self.encoder.own_delta(target)
        packed = self.encoder.packed_reference(target)
        written = self.references.create(
            upload.dest.delta_space, key, *_as_reference(upload), sketch, packed,
            upload.body.unchanged,
        )  # fmt: skip
        if written is None:
            return None
        self.interruption.check()
        return self._store_delta(upload, own, key, upload.sha256, reason, written)

    def _best_delta(
        self, upload: _Upload, target: Target, candidates: list[ObjectInfo], work: Path
    ) -> tuple[ObjectInfo, ReferenceMeta, Path, Encoded]:
        """The smallest delta against the candidate references, most alike first: the
        next one is tried only while the delta is above TRY_MORE_ABOVE of the file (and
        the file small enough for another try to pay). _Contended when a candidate was
        removed since this process listed it."""
        space = upload.dest.delta_space
        best: tuple[ObjectInfo, ReferenceMeta, Path, Encoded] | None = None
        tries = CANDIDATES_TRIED if upload.size <= TRY_MORE_UP_TO else 1
        for index, ref_info in enumerate(candidates[:tries]):
            if best is not None and best[3].size <= TRY_MORE_ABOVE * upload.size:
                break
            reference = read_reference(ref_info.metadata)
            try:
                ref_path = self.references.fetch(
                    space.bucket, ref_info.key, reference.sha256, work / f"reference-{index}.bin"
                )
            except (ReferenceMissing, ReferenceChanged):  # gone, or replaced, since listed
                raise _Contended from None
            encoded = self.encoder.encode(ref_path, target)
            self.interruption.check()
            if best is None or encoded.size < best[3].size:
                kept = encoded.path.rename(work / f"try-{index}.delta")
                best = ref_info, reference, ref_path, replace(encoded, path=kept)
            if index:
                self.logger.debug(
                    "%s: %d bytes against %s (tried %d)", upload.dest, encoded.size, ref_info.key,
                    index + 1,
                )  # fmt: skip
        assert best is not None
        return best

    def _store_delta(
        self,
        upload: _Upload,
        encoded: Encoded,
        ref_key: str,
        ref_sha256: str,
        reason: str,
        reference_size: int = 0,
    ) -> _StoredDelta:
        """Store a delta; `reference_size`: the bytes of the reference this upload made
        for it (counted in what the upload stored)."""
        dest = upload.dest
        meta = DeltaMeta(
            name=dest.name,
            sha256=upload.sha256,
            size=upload.size,
            mtime=upload.mtime,
            created_at=self.clock.now(),
            ref_key=ref_key,
            ref_sha256=ref_sha256,
            delta_size=encoded.size,
            codec=encoded.codec or self.encoder.codec,
            tool=self.tool,
            container=encoded.container,
            recipe=encoded.recipe,
            attributes=upload.recorded,
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
            stored_size=encoded.size + reference_size,
            created_reference=reason != "delta",
            reason=reason,
            etag=quoted(upload.etag),
            reference_size=reference_size,
            form=DeltaForm.CONTENT if encoded.container else DeltaForm.RAW,
            detail=_detail(encoded),
        )
        return _StoredDelta(stored, etag, ref_key, ref_sha256, encoded.size)

    def _settle_delta(self, upload: _Upload, stored: _StoredDelta) -> None:
        """A confirmed delta goes into the listing index, and replaces the direct form."""
        dest = upload.dest
        ref_name = stored.ref_key.rsplit("/", 1)[-1]
        entry = IndexEntry(
            stored.etag,
            upload.size,
            upload.mtime,
            ref_name,
            stored.delta_size,
            file_etag=upload.etag,
            form=stored.result.form,
        )
        self.catalog.record(dest.delta_space, dest.delta_key, entry)
        if not is_reserved_name(dest.name):  # a reserved name's own key is never the user's
            self._delete_if_present(dest.bucket, dest.key)

    def _put_direct(self, upload: _Upload, *, tried_delta: bool) -> PutResult:
        """Store the file as itself: under its own key, or, for a reserved name (which
        would read as an internal object there), under `{key}.delta` marked direct."""
        self.interruption.check()
        dest = upload.dest
        meta = DirectMeta(
            dest.name,
            upload.sha256,
            upload.size,
            upload.mtime,
            self.clock.now(),
            self.tool,
            upload.recorded,
        )
        key = _whole_key(dest)
        etag = self.storage.upload(
            dest.bucket, key, upload.body.source(), meta.to_metadata(),
            unchanged=upload.body.unchanged,
        )  # fmt: skip
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

    def copy_whole(
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
            headers=(replace or kept).headers,
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

    def _delete_if_present(self, bucket: str, key: str) -> None:
        if self.catalog.exists(bucket, key):
            self.storage.delete(bucket, key)
            self.catalog.note_stored(bucket, key, present=False)


def _detail(encoded: Encoded) -> str:
    """How a content delta rebuilds its file, for `put` and logs."""
    found = encoded.unpacked
    if found is None:
        return ""
    parts = [f"{found.deflated} of {found.streams} entries re-deflated"]
    if found.copied:
        parts.append(f"{found.copied} copied")
    if found.kept:
        parts.append(f"{found.kept} kept as they are")
    return ", ".join(parts)


def _whole_key(dest: ObjectKey) -> str:
    """Where an object stored whole lives: its own key, or `{key}.delta` for a reserved
    name (its own key would read as an internal object)."""
    return dest.delta_key if is_reserved_name(dest.name) else dest.key


def _as_reference(upload: _Upload) -> tuple[Path, str, str, int]:
    """What a reference made from an upload records: its bytes, name, SHA256, size."""
    return upload.source, upload.dest.name, upload.sha256, upload.size
