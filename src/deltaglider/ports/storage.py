"""StoragePort: an S3-like object store (S3 itself, or a local directory tree)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol


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
    ) -> str:
        """Store the file at `source` (or these bytes) under `key` with `metadata`,
        replacing any old object; return the new object's ETag (as listings show it).

        With `create_only`, the write happens only if no object has the key, decided
        atomically by the store (S3's If-None-Match: *); else AlreadyExists.
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
