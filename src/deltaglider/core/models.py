"""Value objects of the domain: where things are, and what operations report."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from deltaglider.core.errors import InvalidRange
from deltaglider.core.limits import KEY_LIMIT, fits_key, key_size

REFERENCE_NAME = "reference.bin"
# Every name starting with this is DeltaGlider's own, never a user's object.
INTERNAL_PREFIX = ".dg-"
INDEX_NAME = ".dg-index.json"  # the DeltaSpace's listing index, see core/index.py
PROBE_PREFIX = ".dg-probe-"  # short-lived objects testing the store's conditional writes
GC_LOCK_PREFIX = ".dg-gc-lock-"  # held while unused references are removed, see core/gc_lock.py
# The gateway's multipart uploads, staged at the bucket's root (core/multipart.py): a
# record per upload, `.dg-mpu-{id}`, and its parts, `.dg-mpp-{id}-{number:05d}`.
UPLOAD_RECORD_PREFIX = ".dg-mpu-"
STAGED_PART_PREFIX = ".dg-mpp-"
DELTA_SUFFIX = ".delta"
# Bytes a DeltaSpace's prefix must leave under S3's key limit for the names of its
# internal objects (the longest, `reference-{16 hex}.bin` or `.dg-gc-lock-{16 hex}`,
# take 30).
INTERNAL_NAME_ROOM = 40
# References after the first (and all of them on stores that ignore conditional writes)
# are named by their content.
_NAMED_REFERENCE = re.compile(r"reference-[0-9a-f]{16}\.bin")
# Short-lived objects are named exactly so, never by a prefix alone: a user's file
# `.dg-probe-notes.txt` (stored as `.dg-probe-notes.txt.delta`) must never match.
_PROBE = re.compile(re.escape(PROBE_PREFIX) + r"[0-9a-f]{16}")
_GC_LOCK = re.compile(re.escape(GC_LOCK_PREFIX) + r"[0-9a-f]{16}")
_STAGED_PART = re.compile(re.escape(STAGED_PART_PREFIX) + r"([0-9a-f]{32})-\d{5}")


@dataclass(frozen=True)
class ObjectKey:
    """A logical object's address: bucket and key as the user gives them."""

    bucket: str
    key: str

    @property
    def name(self) -> str:
        """The last path segment of the key (the file name)."""
        return self.key.rsplit("/", 1)[-1]

    @property
    def delta_space(self) -> DeltaSpace:
        """The DeltaSpace this key belongs to: its bucket and "folder" prefix."""
        return DeltaSpace(self.bucket, folder_of(self.key))

    @property
    def delta_key(self) -> str:
        """Where this logical object is stored when it is stored as a delta."""
        return self.key + DELTA_SUFFIX

    @property
    def fits_delta(self) -> bool:
        """Whether this key can be stored as a delta: `K.delta` within S3's key limit,
        and room left after its DeltaSpace's prefix for the references and index."""
        folder = folder_of(self.key)
        return fits_key(self.delta_key) and key_size(folder) + INTERNAL_NAME_ROOM <= KEY_LIMIT

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class DeltaSpace:
    """A bucket prefix whose delta-eligible objects are stored against its references
    (the first is `reference.bin`; later ones, started when releases drift, are named by
    content)."""

    bucket: str
    prefix: str  # "" or ending in "/"

    @property
    def reference_key(self) -> str:
        return self.prefix + REFERENCE_NAME

    @property
    def index_key(self) -> str:
        return self.prefix + INDEX_NAME

    @property
    def gc_lock_prefix(self) -> str:
        return self.prefix + GC_LOCK_PREFIX

    def named_reference_key(self, sha256: str) -> str:
        """A reference key named by content: for every reference after the first, and for
        the first too where the store cannot create objects exclusively, so no two
        uploaders ever overwrite each other's reference."""
        return f"{self.prefix}reference-{sha256[:16]}.bin"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def folder_of(key: str) -> str:
    """The DeltaSpace prefix of a key: everything up to and including the last `/`."""
    return key[: key.rfind("/") + 1]


def is_reference_name(name: str) -> bool:
    return name == REFERENCE_NAME or _NAMED_REFERENCE.fullmatch(name) is not None


def is_reference_key(key: str) -> bool:
    return is_reference_name(key.rsplit("/", 1)[-1])


def is_internal_name(name: str) -> bool:
    """References, and every `.dg-*` name (listing indexes, probes, gc locks): stored,
    never shown to users. A `.delta` name is never internal: it is how a user's file of
    a reserved name is stored."""
    if name.endswith(DELTA_SUFFIX):
        return False
    return is_reference_name(name) or name.startswith(INTERNAL_PREFIX)


def is_probe_name(name: str) -> bool:
    return _PROBE.fullmatch(name) is not None


def is_gc_lock_name(name: str) -> bool:
    return _GC_LOCK.fullmatch(name) is not None


def staged_part_upload(key: str) -> str | None:
    """The upload id of a gateway upload's staged part, None for any other key."""
    found = _STAGED_PART.fullmatch(key)
    return None if found is None else found[1]


def is_internal_key(key: str) -> bool:
    return is_internal_name(key.rsplit("/", 1)[-1])


def is_stored_by_us(key: str) -> bool:
    """Whether only DeltaGlider writes this key: an internal object or a `.delta` one
    (every file whose name ends so is stored as `{name}.delta`). Any other key may be a
    user's own object, written with plain S3."""
    return key.endswith(DELTA_SUFFIX) or is_internal_key(key)


def logical_key(stored_key: str) -> str | None:
    """The logical key a stored key shows as, or None for a reference or index."""
    if is_internal_key(stored_key):
        return None
    if stored_key.endswith(DELTA_SUFFIX):
        return stored_key[: -len(DELTA_SUFFIX)]
    return stored_key


class StoredAs(StrEnum):
    """How a logical object is kept in the store."""

    DELTA = "delta"
    DIRECT = "direct"


class DeltaForm(StrEnum):
    """What a delta is of: the file's raw bytes, or a container's content."""

    RAW = "raw"
    CONTENT = "content"


@dataclass(frozen=True)
class LogicalObject:
    """An object as users see it: its own name, size, time and ETag, never the stored
    form's. `content_type`, `user_metadata` and `headers` (those S3 keeps, e.g.
    Cache-Control) come with a HEAD (a listing has none: None); `part_sizes` are the
    parts of a multipart upload, as recorded (empty for a single PUT)."""

    key: str
    size: int
    last_modified: datetime
    stored_as: StoredAs
    stored_key: str
    stored_size: int
    etag: str  # quoted, as S3 sends it
    content_type: str | None = None
    user_metadata: Mapping[str, str] | None = None
    form: str | None = None  # a delta's: DeltaForm, when the index or metadata tells
    headers: Mapping[str, str] | None = None
    part_sizes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Description:
    """How a logical object is kept: its logical view, the SHA256 recorded for it (None
    for a plain object that records none), and for a delta the reference it is rebuilt
    from and the codec that made it."""

    logical: LogicalObject
    sha256: str | None
    reference: str | None = None
    codec: str | None = None


@dataclass(frozen=True)
class PutResult:
    """What an upload stored."""

    key: ObjectKey
    stored_as: StoredAs
    stored_key: str
    file_size: int
    file_sha256: str
    stored_size: int  # every byte this upload stored: its delta and a reference it made
    created_reference: bool
    reason: str  # why it was stored this way, for logs and `put` output
    etag: str  # the logical object's ETag, quoted, as S3 would answer the PUT
    reference_size: int = 0  # of stored_size, the new reference this upload made
    form: DeltaForm | None = None  # a delta's
    detail: str = ""  # how a content delta rebuilds it, e.g. "3 of 412 entries re-deflated"

    @property
    def ratio(self) -> float:
        """Stored bytes per logical byte (0 for an empty file)."""
        return self.stored_size / self.file_size if self.file_size else 0.0


@dataclass(frozen=True)
class ByteRange:
    """The bytes asked for, as an HTTP Range says them: `first`-`last` inclusive,
    `first`- to the end, or the `suffix` last bytes."""

    first: int | None = None
    last: int | None = None
    suffix: int | None = None

    def resolve(self, size: int) -> tuple[int, int]:
        """(start, stop) within an object of `size` bytes, stop exclusive; InvalidRange
        when no byte of the range is in the object (S3's 416)."""
        if self.suffix is not None:
            if self.suffix == 0:
                raise InvalidRange(size)
            return max(size - self.suffix, 0), size
        first = self.first or 0
        if first >= size:
            raise InvalidRange(size)
        last = size - 1 if self.last is None else min(self.last, size - 1)
        return first, last + 1


@dataclass(frozen=True)
class GetResult:
    """What a download rebuilt."""

    key: ObjectKey
    stored_as: StoredAs
    size: int
    sha256: str | None  # None for a plain object that carries no recorded SHA256


@dataclass(frozen=True)
class DeleteResult:
    """What a delete removed."""

    key: ObjectKey
    stored_key: str | None  # None: there was nothing to delete


@dataclass(frozen=True)
class SpaceStats:
    """Logical versus stored bytes of the objects under one prefix ("folder")."""

    prefix: str
    objects: int
    deltas: int
    references: int
    logical_bytes: int
    stored_bytes: int
    content_deltas: int = 0  # of deltas, those of a container's content
    reference_bytes: int = 0  # of stored_bytes, the references'

    @classmethod
    def combined(cls, prefix: str, rows: Sequence[SpaceStats]) -> SpaceStats:
        """One row adding up several."""
        return cls(
            prefix,
            sum(r.objects for r in rows),
            sum(r.deltas for r in rows),
            sum(r.references for r in rows),
            sum(r.logical_bytes for r in rows),
            sum(r.stored_bytes for r in rows),
            sum(r.content_deltas for r in rows),
            sum(r.reference_bytes for r in rows),
        )

    @property
    def saved_bytes(self) -> int:
        return self.logical_bytes - self.stored_bytes

    @property
    def savings(self) -> float:
        """Fraction of the logical bytes that did not have to be stored."""
        return self.saved_bytes / self.logical_bytes if self.logical_bytes else 0.0


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of rebuilding an object and checking its SHA256."""

    key: ObjectKey
    expected_sha256: str | None  # None: a plain object, nothing recorded to check against
    actual_sha256: str

    @property
    def ok(self) -> bool:
        return self.expected_sha256 == self.actual_sha256
