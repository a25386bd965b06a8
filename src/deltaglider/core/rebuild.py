"""Rebuilding a file from its delta and its DeltaSpace's reference.

A reference's own object is the reference's bytes, fetched and checked against their
SHA256. A delta is read in the version whose metadata was read (If-Match), then
decoded one of three ways: from ranged reads of the reference's stretches where it is
stored (a large reference on first use: no copy of it, no SHA256 of it, the file's own
SHA256 stands in, and any failed check sends the read the next way); while the
reference downloads (a codec that reads its source in stretches); or after it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from pathlib import Path

from deltaglider.core.encoding import Encoder
from deltaglider.core.errors import (
    IntegrityError,
    ObjectChanged,
    ObjectNotFound,
    ReferenceChanged,
    ReferenceMissing,
)
from deltaglider.core.metadata import DeltaMeta
from deltaglider.core.models import ObjectKey
from deltaglider.core.references import References
from deltaglider.core.scratch import scratch_dir
from deltaglider.core.trailing import WrittenPrefix
from deltaglider.ports import ByteRanges, LoggerPort, ObjectInfo, StoragePort


class DeltaRebuilder:
    """Writes the file a stored delta stands for."""

    def __init__(
        self,
        *,
        storage: StoragePort,
        references: References,
        encoder: Encoder,
        logger: LoggerPort,
    ) -> None:
        self.storage = storage
        self.references = references
        self.encoder = encoder
        self.logger = logger

    def rebuild(
        self, source: ObjectKey, meta: DeltaMeta, info: ObjectInfo, out: Path
    ) -> str | None:
        """Write the file of the delta `info` (whose metadata is `meta`) to `out`; its
        SHA256 when it was hashed on the way. The caller compares SHA256s."""
        if _is_its_reference(meta):
            # The object is its reference's bytes (the first of its DeltaSpace), which
            # the fetch checks against their SHA256: the object's own, recorded here.
            self._fetch_itself(source, meta, info, out)
            return meta.ref_sha256
        with scratch_dir() as work:
            return self._decode(source, meta, info.key, info.etag or None, out, work)

    def _fetch_itself(
        self, source: ObjectKey, meta: DeltaMeta, info: ObjectInfo, out: Path
    ) -> None:
        """Fetch the reference that is this object's bytes into `out`. Its delta is not
        read. A reference gone or replaced since the HEAD is an ObjectChanged (to be read
        again) when the delta has changed meanwhile too."""
        self.encoder.check_decodable(meta, str(source))
        try:
            self.references.fetch(
                source.bucket, meta.ref_key, meta.ref_sha256, out, only_read=False
            )
        except (ReferenceMissing, ReferenceChanged):
            now = self.storage.head(source.bucket, info.key)
            if now is None or now.etag != info.etag:
                raise ObjectChanged(source.bucket, info.key) from None
            raise

    def _decode(
        self,
        source: ObjectKey,
        meta: DeltaMeta,
        delta_key: str,
        version: str | None,
        out: Path,
        work: Path,
    ) -> str | None:
        """Rebuild a delta's file into `out` (its SHA256, when hashed as it was written).
        The delta is read only in `version` (the ETag its metadata came with). The
        reference, read whole, is checked against the SHA256 the delta records; read by
        ranges, each is of the version its metadata came with, and the file's SHA256
        is checked instead."""
        self.encoder.check_decodable(meta, str(source))
        delta = work / "object.delta"  # first: a changed delta needs no reference fetched
        self.storage.download(source.bucket, delta_key, delta, if_match=version)
        if self.encoder.reads_ranges(meta):
            ranges = self.references.ranges(source.bucket, meta.ref_key, meta.ref_sha256)
            if ranges is not None and (actual := self._decode_ranged(meta, ranges, delta, out)):
                return actual
        reference = work / "reference.bin"
        if self.encoder.follows(meta):
            return self._decode_following(source, meta, reference, delta, out, work)
        self.references.fetch(source.bucket, meta.ref_key, meta.ref_sha256, reference)
        return self.encoder.decode(meta, reference, delta, out, work)

    def _decode_ranged(
        self, meta: DeltaMeta, reference: ByteRanges, delta: Path, out: Path
    ) -> str | None:
        """Decode from the stretches of the reference read where it is stored; the
        file's SHA256 when it is the one recorded. None when the reference changed or
        went meanwhile, or what was decoded is not the file: fetched whole and checked,
        the reference then tells which of it and the delta is at fault."""
        try:
            actual = self.encoder.decode_ranged(meta, reference, delta, out)
        except (ObjectChanged, ObjectNotFound, IntegrityError) as exc:
            self.logger.debug("decoding from %s's ranges failed (%s)", meta.ref_key, exc)
            return None
        if actual != meta.sha256:
            self.logger.debug("decoded from %s's ranges, not the file", meta.ref_key)
            return None
        return actual

    def _decode_following(
        self,
        source: ObjectKey,
        meta: DeltaMeta,
        reference: Path,
        delta: Path,
        out: Path,
        work: Path,
    ) -> str | None:
        """Decode while the reference downloads: each stretch of it is read once it has
        landed, so the decode overlaps the download instead of following it. `out` is
        trusted only after both: the reference's SHA256 checked by its fetch (whose
        failure is the one raised), the file's by the caller."""
        landed = WrittenPrefix()

        def fetch() -> None:
            try:
                self.references.fetch(
                    source.bucket, meta.ref_key, meta.ref_sha256, reference,
                    written=landed.written,
                )  # fmt: skip
            except BaseException:
                landed.failed()
                raise
            landed.finished(reference.stat().st_size)

        with ThreadPoolExecutor(1) as aside:
            fetching = aside.submit(copy_context().run, fetch)
            try:
                actual = self.encoder.decode(meta, reference, delta, out, work, landed.wait_for)
            except BaseException:
                failure = fetching.exception()  # the cause, when the reference failed
                if failure is not None:
                    raise failure from None
                raise
            fetching.result()
        return actual


def _is_its_reference(meta: DeltaMeta) -> bool:
    """A delta of a file against itself, as the file that became its DeltaSpace's
    reference is stored: its bytes are the reference's, nothing to decode."""
    return meta.ref_sha256 == meta.sha256 and meta.container is None
