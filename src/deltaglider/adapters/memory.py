"""StoragePort in memory: a fast, honest fake for unit tests and experiments."""

from __future__ import annotations

import builtins
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from deltaglider.core.errors import (
    AlreadyExists,
    BucketExists,
    BucketNotEmpty,
    BucketNotFound,
    DeltaGliderError,
    ObjectChanged,
    ObjectNotFound,
    StorageError,
)
from deltaglider.core.limits import check_bucket_name, check_put
from deltaglider.ports import (
    BucketInfo,
    CommonPrefix,
    IncompleteUpload,
    ObjectInfo,
    UploadProgress,
)

_COPY_ONTO_ITSELF = (
    "An object cannot be copied onto itself without changing its metadata (S3 refuses it)"
)


@dataclass
class StoredObject:
    data: bytes
    metadata: dict[str, str]
    last_modified: datetime

    @property
    def etag(self) -> str:
        return f'"{hashlib.md5(self.data).hexdigest()}"'


@dataclass
class InMemoryStorage:
    """Buckets of objects in dicts, with S3's listing rules and limits; counts calls per
    operation."""

    buckets: dict[str, dict[str, StoredObject]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    # False plays a store that ignores If-None-Match (as some S3 lookalikes do).
    honours_conditional_writes: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    created: dict[str, datetime] = field(default_factory=dict)

    def create_bucket(self, bucket: str) -> None:
        self._count("create_bucket")
        check_bucket_name(bucket)
        if bucket in self.buckets:
            raise BucketExists(bucket)
        self.buckets[bucket] = {}
        self.created[bucket] = datetime.now(UTC)

    def delete_bucket(self, bucket: str) -> None:
        self._count("delete_bucket")
        if self._bucket(bucket, "DeleteBucket"):
            raise BucketNotEmpty(bucket)
        del self.buckets[bucket]

    def list_buckets(self) -> Iterator[BucketInfo]:
        self._count("list_buckets")
        for name in sorted(self.buckets):
            yield BucketInfo(name, self.created.get(name, datetime.now(UTC)))

    def _count(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1

    def _bucket(self, bucket: str, operation: str = "HeadBucket") -> dict[str, StoredObject]:
        if bucket not in self.buckets:
            raise BucketNotFound(bucket, operation)
        return self.buckets[bucket]

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        self._count("head")
        found = self.buckets.get(bucket, {}).get(key)
        if found is None:
            return None
        return ObjectInfo(
            key, len(found.data), found.last_modified, found.etag, dict(found.metadata)
        )

    def list(
        self, bucket: str, prefix: str, delimiter: str | None = None, *, start_after: str = ""
    ) -> Iterator[ObjectInfo | CommonPrefix]:
        self._count("list")
        objects = self._bucket(bucket, "ListObjectsV2")
        with self._lock:
            keys = sorted((k for k in objects if k.startswith(prefix)), key=str.encode)
        seen_prefixes: set[str] = set()
        for key in keys:
            if delimiter and delimiter in key[len(prefix) :]:
                rolled = key[: key.index(delimiter, len(prefix)) + len(delimiter)]
                if rolled not in seen_prefixes and rolled.encode() > start_after.encode():
                    seen_prefixes.add(rolled)
                    yield CommonPrefix(rolled)
                continue
            stored = objects.get(key)
            if stored is not None and key.encode() > start_after.encode():
                yield ObjectInfo(key, len(stored.data), stored.last_modified, stored.etag)

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
        self._count("upload")
        check_put(bucket, key, metadata)
        data = source if isinstance(source, bytes) else source.read_bytes()
        if unchanged is not None:
            unchanged()
        with self._lock:
            objects = self._bucket(bucket, "PutObject")
            if create_only and self.honours_conditional_writes and key in objects:
                raise AlreadyExists(bucket, key)
            objects[key] = StoredObject(data, dict(metadata), datetime.now(UTC))
            return objects[key].etag

    def download(
        self, bucket: str, key: str, destination: Path, *, if_match: str | None = None
    ) -> None:
        self._count("download")
        with self._lock:
            found = self._bucket(bucket, "GetObject").get(key)
            if found is None:
                raise ObjectNotFound(bucket, key, "GetObject")
            if if_match is not None and found.etag != if_match:
                raise ObjectChanged(bucket, key)
        with destination.open("wb") as stream:
            stream.write(found.data)

    def delete(self, bucket: str, key: str) -> None:
        self._count("delete")
        self._bucket(bucket, "DeleteObject").pop(key, None)

    def delete_many(
        self, bucket: str, keys: Sequence[str]
    ) -> builtins.list[tuple[str, DeltaGliderError]]:
        """One `delete` per key, so a subclass that refuses one key refuses it here too."""
        self._count("delete_many")
        self._bucket(bucket, "DeleteObjects")
        failed: builtins.list[tuple[str, DeltaGliderError]] = []
        for key in keys:
            try:
                self.delete(bucket, key)
            except DeltaGliderError as exc:
                failed.append((key, exc))
        return failed

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
        self._count("copy")
        if (bucket, key) == (dest_bucket, dest_key) and metadata is None:
            raise StorageError(_COPY_ONTO_ITSELF)
        check_put(dest_bucket, dest_key, metadata or {})
        with self._lock:
            found = self._bucket(bucket, "CopyObject").get(key)
            objects = self._bucket(dest_bucket, "CopyObject")
            if found is None:
                raise ObjectNotFound(bucket, key)
            if if_match is not None and found.etag != if_match:
                raise ObjectChanged(bucket, key)
            kept = found.metadata if metadata is None else metadata
            objects[dest_key] = StoredObject(found.data, dict(kept), datetime.now(UTC))
            return objects[dest_key].etag

    def incomplete_uploads(self, bucket: str, prefix: str) -> Iterator[IncompleteUpload]:
        """None: every write here is whole at once, nothing is staged part-way."""
        self._count("incomplete_uploads")
        self._bucket(bucket, "ListMultipartUploads")
        return iter(())

    def upload_progress(self, bucket: str, key: str, upload_id: str) -> UploadProgress | None:
        """None: there are no uploads part-way here (`incomplete_uploads`)."""
        return None

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Nothing to abort (`incomplete_uploads`)."""
        self._count("abort_upload")

    def bucket_exists(self, bucket: str) -> bool:
        self._count("bucket_exists")
        return bucket in self.buckets
