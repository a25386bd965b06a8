"""StoragePort: an S3-like object store (S3 itself, or a local directory tree)."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from deltaglider.core.errors import DeltaGliderError
from deltaglider.ports.diff import ByteRanges


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object as the store reports it.

    `metadata` (the user metadata, lowercase keys without `x-amz-meta-`) is filled by
    `head`; listings leave it empty, as S3 listings carry no metadata.
    """

    key: str
    size: int
    last_modified: datetime
    etag: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CommonPrefix:
    """A "folder" in a delimited listing (S3's CommonPrefixes), ending in the delimiter."""

    prefix: str


@dataclass(frozen=True)
class IncompleteUpload:
    """An upload begun and neither completed nor aborted: on S3 a multipart upload, whose
    parts are kept (and paid for) until someone aborts it, and which no object listing
    shows. `initiated` is the store's word, which not every server gets right (moto
    dates every upload 2010-11-10): `upload_progress` tells when it last moved."""

    key: str
    upload_id: str
    initiated: datetime


@dataclass(frozen=True)
class UploadProgress:
    """What an incomplete upload has stored: its parts' bytes, and when the newest part
    was stored (None before the first)."""

    size: int
    last_part: datetime | None


class StoragePort(Protocol):
    """Objects in buckets, addressed by key.

    Errors are raised as `deltaglider.core.errors` types: a missing bucket is
    `BucketNotFound`, a missing key on `download` is `ObjectNotFound`, and so on.
    Every write is atomic: a reader sees the old object, the new one, or none.
    """

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """Size, time and metadata of one object; None when there is no such key."""
        ...

    def list(
        self, bucket: str, prefix: str, delimiter: str | None = None, *, start_after: str = ""
    ) -> Iterator[ObjectInfo | CommonPrefix]:
        """Objects whose key starts with `prefix`, in key order (UTF-8 byte order), read
        as the iterator is consumed.

        With a delimiter, keys that have it after the prefix are rolled up into
        CommonPrefix entries, as S3 does, in order among the keys by their prefix.
        With `start_after` (S3's StartAfter), only entries sorting strictly after it: a
        CommonPrefix at or before it is left out even if it holds later keys.
        """
        ...

    def upload(
        self,
        bucket: str,
        key: str,
        source: Path | bytes,
        metadata: Mapping[str, str],
        *,
        create_only: bool = False,
        unchanged: Callable[[], None] | None = None,
    ) -> str:
        """Store the file at `source` (or these bytes) under `key` with `metadata`,
        replacing any old object; return the new object's ETag (as listings show it).

        With `create_only`, the write happens only if no object has the key, decided
        atomically by the store (S3's If-None-Match: *); else AlreadyExists.

        `unchanged`, for a file that may be written to meanwhile (a user's, read where
        it is): called once the last byte of `source` has been read and before the
        object is published; what it raises stops the upload, and nothing is stored.
        """
        ...

    def download(
        self, bucket: str, key: str, destination: Path, *, if_match: str | None = None
    ) -> None:
        """Write the object's bytes to `destination` (a path the caller owns).

        With `if_match`, the bytes are those of the object whose ETag is `if_match`, or
        ObjectChanged is raised (S3's If-Match): a caller that read an object's metadata
        with `head` reads the body of that same version, not of a later overwrite.
        """
        ...

    def delete(self, bucket: str, key: str) -> None:
        """Remove `key`; removing a key that is not there is not an error."""
        ...

    def delete_many(
        self, bucket: str, keys: Sequence[str]
    ) -> builtins.list[tuple[str, DeltaGliderError]]:
        """Remove every key of `keys` (S3's DeleteObjects, 1,000 keys a request); return the
        keys the store refused, each with its error: empty when all went. A key that is
        not there is not an error; a missing bucket, or a store that cannot be reached,
        raises instead, and then some keys may be gone and others not.
        """
        ...

    def copy(
        self,
        bucket: str,
        key: str,
        dest_bucket: str,
        dest_key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        if_match: str | None = None,
    ) -> str:
        """Copy one stored object to `dest_key` of `dest_bucket` inside the store (on S3 the
        bytes never pass through this process); return the new object's ETag (as listings
        will show it). The copy replaces any object at the destination.

        `metadata` None keeps the source's metadata (S3's MetadataDirective COPY); a
        mapping replaces it (REPLACE), and is the only way to copy an object onto itself,
        which S3 otherwise refuses. With `if_match`, only the version whose ETag it is
        is copied, else ObjectChanged, as for `download`. Objects above S3's 5 GiB for one
        CopyObject are copied in parts, all from the version found first: an overwrite
        during the copy raises ObjectChanged and leaves the destination as it was.
        A missing source is ObjectNotFound; the destination is held to S3's limits on keys
        and metadata as uploads are.
        """
        ...

    def incomplete_uploads(self, bucket: str, prefix: str) -> Iterator[IncompleteUpload]:
        """The uploads under way, or abandoned by a process that died, of keys starting
        with `prefix` (S3's ListMultipartUploads), in the store's own form of them; a
        store whose writes leave nothing part-way lists none."""
        ...

    def upload_progress(self, bucket: str, key: str, upload_id: str) -> UploadProgress | None:
        """What the upload has stored so far (S3's ListParts); None when it is gone."""
        ...

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Abort the upload and free what it stored; one already completed or aborted
        (by someone else, say) is not an error. A writer of that upload then fails; its
        object is never left part-written."""
        ...


@runtime_checkable
class HashingStorage(Protocol):
    """A store whose download hashes what it writes as it writes it: a large
    reference's SHA256 is known when its last part lands, not a read of it later."""

    def download_hashed(
        self,
        bucket: str,
        key: str,
        destination: Path,
        *,
        if_match: str | None = None,
        written: Callable[[int, int], None] | None = None,
    ) -> str:
        """StoragePort.download, returning the SHA256 (hex) of the bytes written;
        `written` hears of each range of `destination` once it is there."""
        ...


@runtime_checkable
class RangeReadingStorage(Protocol):
    """A store that can serve byte ranges of one version of an object, and knows
    whether doing so is cheap."""

    def byte_ranges(self, bucket: str, key: str, size: int, version: str) -> ByteRanges | None:
        """Ranges of the object whose ETag is `version` (each read raises ObjectChanged
        once it is another, ObjectNotFound once it is gone); None where a ranged read
        costs the server a read of the whole object (learnt once per bucket)."""
        ...


@runtime_checkable
class LinkingStorage(Protocol):
    """A store on local disk that can hand out an object's bytes without a copy."""

    def link(self, bucket: str, key: str, destination: Path) -> bool:
        """Make `destination` the object's bytes as a hard link; False when it cannot
        (the object is gone, or lives on another filesystem): download it instead."""
        ...
