"""StoragePort over a local directory: the embedded backend, no service to run.

Layout under the root given as `file:///abs/root`:

    root/
      bucket/                          a bucket is a directory directly under the root
        releases/app-1.0.zip.delta     a key maps to the path below its bucket
        releases/.app-1.0.zip.delta.dg-meta.json   its metadata, beside it

Writes go to a temporary file in the same directory and are renamed into place, the
metadata first and the data second, so a reader never sees a partial object, and a new
key's data never appears without its metadata.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from deltaglider.core.errors import (
    AlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    InvalidKeyError,
    LocalFileError,
    ObjectNotFound,
)
from deltaglider.ports import BucketInfo, CommonPrefix, ObjectInfo

META_SUFFIX = ".dg-meta.json"
TEMP_MARK = ".dg-tmp-"
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]{0,254}")


def is_internal_name(name: str) -> bool:
    """Metadata sidecars and in-flight temporary files, never listed as objects."""
    return (name.startswith(".") and name.endswith(META_SUFFIX)) or TEMP_MARK in name


class LocalFilesystemStorage:
    """Buckets as directories, objects as files, metadata in JSON sidecars."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # --------------------------------------------------------------- paths

    def _bucket_dir(self, bucket: str) -> Path:
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise InvalidKeyError(f"invalid bucket name: {bucket!r}")
        return self.root / bucket

    def _existing_bucket(self, bucket: str, operation: str) -> Path:
        path = self._bucket_dir(bucket)
        if not path.is_dir():
            raise BucketNotFound(bucket, operation)
        return path

    def _object_path(self, bucket: str, key: str) -> Path:
        segments = key.split("/")
        for segment in segments:
            if segment in ("", ".", "..") or "\0" in segment or is_internal_name(segment):
                raise InvalidKeyError(f"key cannot be stored on the filesystem backend: {key!r}")
        return self._bucket_dir(bucket).joinpath(*segments)

    @staticmethod
    def _meta_path(path: Path) -> Path:
        return path.with_name(f".{path.name}{META_SUFFIX}")

    # --------------------------------------------------------------- reads

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        self._bucket_dir(bucket)  # a bad bucket name is an error, not an absent key
        try:
            path = self._object_path(bucket, key)
        except InvalidKeyError:
            return None
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not path.is_file():
            return None
        return ObjectInfo(
            key, stat.st_size, _mtime(stat.st_mtime), _etag(stat), self._read_meta(path)
        )

    def _read_meta(self, path: Path) -> dict[str, str]:
        try:
            data = json.loads(self._meta_path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable metadata reads as none: the object is then plain
        meta = data.get("metadata") if isinstance(data, dict) else None
        if not isinstance(meta, dict):
            return {}
        return {str(k): str(v) for k, v in meta.items()}

    def list(
        self, bucket: str, prefix: str, delimiter: str | None = None, *, start_after: str = ""
    ) -> Iterator[ObjectInfo | CommonPrefix]:
        if delimiter not in (None, "/"):
            raise InvalidKeyError(f"the filesystem backend lists with '/' only, not {delimiter!r}")
        bucket_dir = self._existing_bucket(bucket, "ListObjectsV2")
        folder = prefix[: prefix.rfind("/") + 1]
        try:
            start = self._object_path(bucket, folder.rstrip("/")) if folder else bucket_dir
        except InvalidKeyError:
            return
        for key, path in _walk(start, folder, prefix, start_after, rolled=delimiter is not None):
            if key.endswith("/"):
                yield CommonPrefix(key)
            else:
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue  # deleted while the listing went on
                yield ObjectInfo(key, stat.st_size, _mtime(stat.st_mtime), _etag(stat))

    def download(self, bucket: str, key: str, destination: Path) -> None:
        self._existing_bucket(bucket, "GetObject")
        path = self._object_path(bucket, key)
        try:
            shutil.copyfile(path, destination)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            if not path.is_file():
                raise ObjectNotFound(bucket, key) from None
            raise LocalFileError(f"cannot write {destination}") from None

    # --------------------------------------------------------------- buckets

    def bucket_exists(self, bucket: str) -> bool:
        return self._bucket_dir(bucket).is_dir()

    def list_buckets(self) -> Iterator[BucketInfo]:
        if not self.root.is_dir():
            return
        for child in sorted(self.root.iterdir()):
            if child.is_dir() and _BUCKET.fullmatch(child.name):
                yield BucketInfo(child.name, _mtime(child.stat().st_mtime))

    def create_bucket(self, bucket: str) -> None:
        """Creating a bucket one already has succeeds, as in S3's us-east-1 (and Ceph)."""
        self._bucket_dir(bucket).mkdir(parents=True, exist_ok=True)

    def delete_bucket(self, bucket: str) -> None:
        path = self._existing_bucket(bucket, "DeleteBucket")
        if any(True for _ in _walk(path, "")):
            raise BucketNotEmpty(bucket)
        shutil.rmtree(path)  # only empty folders and stray temporary files are left

    # --------------------------------------------------------------- writes

    def upload(
        self,
        bucket: str,
        key: str,
        source: Path,
        metadata: Mapping[str, str],
        *,
        create_only: bool = False,
    ) -> str:
        self._existing_bucket(bucket, "PutObject")
        path = self._object_path(bucket, key)
        if path.is_dir():
            raise InvalidKeyError(f"key {key!r} is a prefix of other keys on this backend")
        document = json.dumps({"format": 1, "metadata": dict(metadata)}, sort_keys=True)
        for attempt in range(3):  # a concurrent delete may prune the folder we just made
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise InvalidKeyError(
                    f"key {key!r} runs through an existing object on this backend"
                ) from None
            try:
                return self._publish(path, source, document, create_only)
            except FileExistsError:
                raise AlreadyExists(bucket, key) from None
            except FileNotFoundError:
                if attempt == 2 or not source.is_file():
                    raise
        raise AssertionError("unreachable")

    def _publish(self, path: Path, source: Path, document: str, create_only: bool) -> str:
        """Both files are written and flushed under temporary names first; then the
        sidecar is renamed into place (or, create-only, hard-linked, which fails if the
        name is taken: of two writers exactly one goes on), then the data."""
        data = self._temp(path)
        meta_path = self._meta_path(path)
        meta = self._temp(meta_path)
        try:
            shutil.copyfile(source, data)
            meta.write_text(document)
            for written in (data, meta):
                with written.open("rb+") as stream:
                    os.fsync(stream.fileno())
            if create_only:
                self._claim(meta, meta_path, path)
            else:
                os.replace(meta, meta_path)
            os.replace(data, path)
            return _etag(path.stat())
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise InvalidKeyError(f"key too long for the filesystem: {path.name!r}") from None
            raise
        finally:
            data.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)

    @staticmethod
    def _claim(meta: Path, meta_path: Path, path: Path) -> None:
        """Link the sidecar into place exclusively. A sidecar with no data beside it for
        over a minute was left by a writer that died in between: it is taken over."""
        try:
            os.link(meta, meta_path)
        except FileExistsError:
            try:
                abandoned = not path.exists() and time.time() - meta_path.stat().st_mtime > 60
            except FileNotFoundError:
                abandoned = False
            if not abandoned:
                raise
            os.replace(meta, meta_path)

    @staticmethod
    def _temp(path: Path) -> Path:
        return path.with_name(f".{path.name}{TEMP_MARK}{secrets.token_hex(4)}")

    def delete(self, bucket: str, key: str) -> None:
        bucket_dir = self._existing_bucket(bucket, "DeleteObject")
        try:
            path = self._object_path(bucket, key)
        except InvalidKeyError:
            return
        if path.is_dir():
            return  # a "folder" is not an object
        path.unlink(missing_ok=True)
        self._meta_path(path).unlink(missing_ok=True)
        for parent in path.parents:  # S3 has no folders: drop the ones left empty
            if parent == bucket_dir:
                break
            try:
                parent.rmdir()
            except OSError:
                break


def _walk(
    directory: Path, base: str, prefix: str = "", start_after: str = "", *, rolled: bool = False
) -> Iterator[tuple[str, Path]]:
    """(key, path) of the object files below `directory` (whose keys start with `base`)
    that start with `prefix` and sort after `start_after`, in key order, read lazily.

    All keys in a folder start with `name/`, so its files are listed where `name/` sorts
    among its siblings. With `rolled` (a delimited listing), each folder holding any file
    is one entry instead, keyed `name/`.
    """
    try:
        with os.scandir(directory) as found:
            children = [
                (base + e.name + ("/" if e.is_dir(follow_symlinks=False) else ""), Path(e.path))
                for e in found
                if not is_internal_name(e.name)
            ]
    except (FileNotFoundError, NotADirectoryError):
        return  # not there, or deleted while the listing went on
    for key, path in sorted(children):
        if not key.endswith("/"):
            if key.startswith(prefix) and key > start_after and path.is_file():
                yield key, path
        elif rolled:
            if key.startswith(prefix) and key > start_after and any(_walk(path, key)):
                yield key, path
        elif (key.startswith(prefix) or prefix.startswith(key)) and (
            key > start_after or start_after.startswith(key)
        ):
            yield from _walk(path, key, prefix, start_after)


def _mtime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _etag(stat: os.stat_result) -> str:
    return f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
