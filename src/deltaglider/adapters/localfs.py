"""StoragePort over a local directory: the embedded backend, no service to run.

Layout under the root given as `file:///abs/root`:

    root/
      bucket/                          a bucket is a directory directly under the root
        releases/app-1.0.zip.delta     a key maps to the path below its bucket
        releases/.app-1.0.zip.delta.dg-meta.json   its metadata, beside it

Writes go to a temporary file in the same directory and are renamed into place, the
metadata first and the data second, so a reader never sees a partial object, and a new
key's data never appears without its metadata. The sidecar records the ETag of the data
file it belongs to (size, mtime and inode, which a rename keeps), so `head` can tell a
pair that is one version from one caught between a writer's two renames.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from deltaglider.core import scratch
from deltaglider.core.errors import (
    AccessDenied,
    AlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    DeltaGliderError,
    EndpointError,
    InvalidBucketName,
    InvalidKeyError,
    LocalFileError,
    ObjectChanged,
    ObjectNotFound,
    StorageError,
)
from deltaglider.core.interruption import uninterruptible
from deltaglider.core.limits import check_bucket_name, check_put
from deltaglider.ports import (
    BucketInfo,
    CommonPrefix,
    IncompleteUpload,
    ObjectInfo,
    UploadProgress,
)

META_SUFFIX = ".dg-meta.json"
PUBLISH_ATTEMPTS = 5  # a write racing deletes that prune empty folders tries again
TEMP_MARK = ".dg-tmp-"
_TEMP = re.compile(r"\.(.+)" + re.escape(TEMP_MARK) + r"[0-9a-f]{8}")  # `_temp`'s names
NAME_MAX = 255  # bytes of one file name on the filesystems this runs on
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]{0,254}")
PAIRING_WAIT = 0.5  # seconds a HEAD waits for a writer between its two renames
CHUNK = 1024 * 1024
_COPY_ONTO_ITSELF = (
    "An object cannot be copied onto itself without changing its metadata (S3 refuses it)"
)


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
            raise InvalidBucketName(bucket, f"invalid bucket name: {bucket!r}")
        return self.root / bucket

    def _existing_bucket(self, bucket: str, operation: str) -> Path:
        path = self._bucket_dir(bucket)
        if not path.is_dir():
            self._check_root()
            raise BucketNotFound(bucket, operation)
        return path

    def _check_root(self) -> None:
        """A store whose directory is missing is an endpoint that is not there (a typo in
        the URL, an unmounted disk), not an empty store: say so."""
        if not self.root.is_dir():
            raise EndpointError(
                f"Could not open the local store {self.root.as_uri()}: "
                f"{self.root} is not a directory"
            )

    def _object_path(self, bucket: str, key: str) -> Path:
        segments = key.split("/")
        for segment in segments:
            if (
                segment in ("", ".", "..")
                or "\0" in segment
                or is_internal_name(segment)
                or len(segment.encode("utf-8", "surrogatepass")) > NAME_MAX  # no such file
            ):
                raise InvalidKeyError(
                    f"key cannot be stored on the filesystem backend: {key!r}",
                    bucket=bucket,
                    key=key,
                )
        return self._bucket_dir(bucket).joinpath(*segments)

    @staticmethod
    def _meta_path(path: Path) -> Path:
        return path.with_name(f".{path.name}{META_SUFFIX}")

    # --------------------------------------------------------------- reads

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """The data file's size, time and ETag with the metadata of that same version.

        A writer renames the sidecar into place before the data, so between the two a
        reader would pair new metadata with old data: the sidecar's recorded ETag tells,
        and the HEAD waits (up to PAIRING_WAIT) for the data to follow. After that it
        returns what is there: only a writer that died between its renames leaves such a
        pair for good, and reading it fails the SHA256 check; it never gives wrong bytes.
        Sidecars written before ETags were recorded are taken as they are.
        """
        self._bucket_dir(bucket)  # a bad bucket name is an error, not an absent key
        try:
            path = self._object_path(bucket, key)
        except InvalidKeyError:
            return None
        deadline = time.monotonic() + PAIRING_WAIT
        pause = 0.001
        while True:
            found = _regular_stat(path)
            if found is None:
                self._check_root()
                return None
            sidecar = self._read_meta(path)
            etag = _etag(found)
            if sidecar is None:  # none: a file put there by hand, or a delete under way
                again = _regular_stat(path)
                if again is None:
                    return None
                paired = _etag(again) == etag
                metadata: dict[str, str] = {}
            else:
                paired = sidecar.etag in (None, etag)
                metadata = sidecar.metadata
            if paired or time.monotonic() > deadline:
                return ObjectInfo(key, found.st_size, _mtime(found.st_mtime), etag, metadata)
            time.sleep(pause)
            pause = min(2 * pause, 0.05)

    def _read_meta(self, path: Path) -> _Sidecar | None:
        """The object's sidecar; None when there is none."""
        try:
            data = json.loads(self._meta_path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return _Sidecar({}, None)  # unreadable metadata reads as none: a plain object
        if not isinstance(data, dict):
            return _Sidecar({}, None)
        meta = data.get("metadata")
        etag = data.get("etag")
        return _Sidecar(
            {str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {},
            etag if isinstance(etag, str) else None,
        )

    def list(
        self, bucket: str, prefix: str, delimiter: str | None = None, *, start_after: str = ""
    ) -> Iterator[ObjectInfo | CommonPrefix]:
        if delimiter not in (None, "/"):
            raise InvalidKeyError(f"the filesystem backend lists with '/' only, not {delimiter!r}")
        folder = prefix[: prefix.rfind("/") + 1]
        _, start = self._folder_dir(bucket, folder, "ListObjectsV2")
        if start is None:
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

    def _folder_dir(self, bucket: str, folder: str, operation: str) -> tuple[Path, Path | None]:
        """The bucket's directory and the folder's (`folder` "" or ending in `/`); None for
        a folder no key can be in."""
        bucket_dir = self._existing_bucket(bucket, operation)
        try:
            return bucket_dir, self._object_path(
                bucket, folder.rstrip("/")
            ) if folder else bucket_dir
        except InvalidKeyError:
            return bucket_dir, None

    def download(
        self, bucket: str, key: str, destination: Path, *, if_match: str | None = None
    ) -> None:
        """Copy from the data file as opened: a concurrent overwrite renames another
        file over the name, it does not change the file already open, so the ETag
        checked on the open descriptor is that of the bytes copied."""
        self._existing_bucket(bucket, "GetObject")
        path = self._object_path(bucket, key)
        try:
            source = path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(bucket, key, "GetObject") from None
        with source:
            found = os.fstat(source.fileno())
            if not stat.S_ISREG(found.st_mode):
                raise ObjectNotFound(bucket, key, "GetObject")
            if if_match is not None and _etag(found) != if_match:
                raise ObjectChanged(bucket, key)
            try:
                with destination.open("wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
            except OSError:
                raise LocalFileError(f"cannot write {destination}") from None

    def link(self, bucket: str, key: str, destination: Path) -> bool:
        """Make `destination` a hard link to the object's data file: its bytes with no
        copy. Safe because a data file is never changed in place (every write renames
        a new file over the name), so the link keeps the version it was made to. False
        when the object is not there or cannot be linked (another filesystem)."""
        self._existing_bucket(bucket, "GetObject")
        try:
            path = self._object_path(bucket, key)
            if not path.is_file():
                return False
            os.link(path, destination)
        except OSError:
            return False
        return True

    # --------------------------------------------------------------- buckets

    def bucket_exists(self, bucket: str) -> bool:
        if self._bucket_dir(bucket).is_dir():
            return True
        self._check_root()
        return False

    def list_buckets(self) -> Iterator[BucketInfo]:
        self._check_root()
        for child in sorted(self.root.iterdir()):
            if child.is_dir() and _BUCKET.fullmatch(child.name):
                yield BucketInfo(child.name, _mtime(child.stat().st_mtime))

    def create_bucket(self, bucket: str) -> None:
        """Creating a bucket one already has succeeds, as in S3's us-east-1 (and Ceph);
        a name S3 would refuse is refused."""
        check_bucket_name(bucket)
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
        source: Path | bytes,
        metadata: Mapping[str, str],
        *,
        create_only: bool = False,
        unchanged: Callable[[], None] | None = None,
    ) -> str:
        self._existing_bucket(bucket, "PutObject")
        check_put(bucket, key, metadata)  # S3's limits, so what works here works there
        if isinstance(source, bytes):
            return self._store(bucket, key, metadata, _filled_with(source), None, create_only)

        def fill(data: Path) -> None:
            shutil.copyfile(source, data)
            if unchanged is not None:  # copied, not yet published
                unchanged()

        return self._store(bucket, key, metadata, fill, source, create_only)

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
        """The bytes come from the source's data file as opened, whose ETag is checked on
        the open descriptor, and the metadata kept is that of the same version."""
        self._existing_bucket(bucket, "CopyObject")
        self._existing_bucket(dest_bucket, "CopyObject")
        if (bucket, key) == (dest_bucket, dest_key) and metadata is None:
            raise StorageError(_COPY_ONTO_ITSELF)
        check_put(dest_bucket, dest_key, metadata or {})
        stream, found = self._open_version(bucket, key, if_match)
        with stream:

            def fill(data: Path) -> None:
                stream.seek(0)
                with data.open("wb") as out:
                    shutil.copyfileobj(stream, out, CHUNK)

            kept = found.metadata if metadata is None else metadata
            return self._store(dest_bucket, dest_key, kept, fill, None, create_only=False)

    def _open_version(
        self, bucket: str, key: str, if_match: str | None
    ) -> tuple[BinaryIO, ObjectInfo]:
        """The object's data file, open, with the HEAD of that same version. A HEAD and an
        open that see two versions (an overwrite in between) are taken again."""
        path = self._object_path(bucket, key)
        for _ in range(PUBLISH_ATTEMPTS):
            found = self.head(bucket, key)
            if found is None:
                raise ObjectNotFound(bucket, key)
            if if_match is not None and found.etag != if_match:
                raise ObjectChanged(bucket, key)
            try:
                stream = path.open("rb")
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                continue  # removed since the HEAD: the next one says so
            if _etag(os.fstat(stream.fileno())) == found.etag:
                return stream, found
            stream.close()
        raise ObjectChanged(bucket, key)

    def _store(
        self,
        bucket: str,
        key: str,
        metadata: Mapping[str, str],
        fill: Callable[[Path], object],
        source: Path | None,
        create_only: bool,
    ) -> str:
        """Publish under `key` the data that `fill` writes. `source`, the file it reads if
        any, tells a FileNotFoundError of its own from a folder pruned under the write."""
        path = self._object_path(bucket, key)
        if path.is_dir():
            raise InvalidKeyError(
                f"key {key!r} is a prefix of other keys on this backend", bucket=bucket, key=key
            )
        for attempt in range(PUBLISH_ATTEMPTS):
            # A concurrent delete may prune a folder of the path while it is being made,
            # or once made: both only mean "again".
            last = attempt == PUBLISH_ATTEMPTS - 1
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                if last or self._runs_through_an_object(bucket, path):
                    raise InvalidKeyError(
                        f"key {key!r} runs through an existing object on this backend",
                        bucket=bucket,
                        key=key,
                    ) from None
                continue
            try:
                return self._publish(path, fill, metadata, create_only)
            except FileExistsError:
                raise AlreadyExists(bucket, key) from None
            except FileNotFoundError:
                if last or (source is not None and not source.is_file()):
                    raise
        raise AssertionError("unreachable")

    def _runs_through_an_object(self, bucket: str, path: Path) -> bool:
        """Whether a folder of the key's path is a file (an object) on this backend."""
        bucket_dir = self._bucket_dir(bucket)
        return any(parent.is_file() for parent in path.parents if parent.is_relative_to(bucket_dir))

    def _publish(
        self,
        path: Path,
        fill: Callable[[Path], object],
        metadata: Mapping[str, str],
        create_only: bool,
    ) -> str:
        """`fill` writes the data to its temporary file. Both files are written and flushed
        under temporary names first; then the sidecar is renamed into place (or,
        create-only, hard-linked, which fails if the name is taken: of two writers exactly
        one goes on), then the data.

        The sidecar records the data file's ETag, taken from the temporary file (a rename
        keeps its size, mtime and inode). The mtime is set from the fine-grained clock:
        the kernel stamps files with a coarser one, and two writes within one of its ticks
        could then, with a recycled inode, share an ETag."""
        data = self._temp(path)
        meta_path = self._meta_path(path)
        meta = self._temp(meta_path)
        scratch.track(data)
        scratch.track(meta)
        try:
            fill(data)
            now = time.time_ns()
            os.utime(data, ns=(now, now))
            with data.open("rb+") as stream:
                os.fsync(stream.fileno())
                etag = _etag(os.fstat(stream.fileno()))
            document = {"format": 1, "metadata": dict(metadata), "etag": etag}
            meta.write_text(json.dumps(document, sort_keys=True))
            with meta.open("rb+") as stream:
                os.fsync(stream.fileno())
            with uninterruptible():  # the pair of renames is never cut in two
                if create_only:
                    self._claim(meta, meta_path, path)
                else:
                    os.replace(meta, meta_path)
                os.replace(data, path)
            return etag
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise InvalidKeyError(f"key too long for the filesystem: {path.name!r}") from None
            raise
        finally:
            data.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            scratch.untrack(data)
            scratch.untrack(meta)

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
        return path.with_name(f".{path.name}{TEMP_MARK}{os.urandom(4).hex()}")

    # ------------------------------------------------ writes left part-way

    def incomplete_uploads(self, bucket: str, prefix: str) -> Iterator[IncompleteUpload]:
        """Writes that a killed process left part-way: their temporary files (the data's
        and the sidecar's, `.NAME.dg-tmp-XXXXXXXX`, see `_publish`), each listed as an
        upload of the key it was written for, with the file's name as the upload id and
        its last write as the time (a write under way keeps it fresh)."""
        bucket_dir, start = self._folder_dir(
            bucket, prefix[: prefix.rfind("/") + 1], "ListMultipartUploads"
        )
        if start is None:
            return
        for directory, _, files in os.walk(start):
            base = Path(directory).relative_to(bucket_dir).as_posix()
            base = "" if base == "." else base + "/"
            for name in sorted(files):
                target = _temp_target(name)
                if target is None or not (key := base + target).startswith(prefix):
                    continue
                try:
                    found = os.stat(os.path.join(directory, name))
                except FileNotFoundError:
                    continue  # finished, or removed, since the walk saw it
                yield IncompleteUpload(key, name, _mtime(found.st_mtime))

    def upload_progress(self, bucket: str, key: str, upload_id: str) -> UploadProgress | None:
        path = self._temp_file(bucket, key, upload_id)
        found = None if path is None else _regular_stat(path)
        return None if found is None else UploadProgress(found.st_size, _mtime(found.st_mtime))

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        bucket_dir = self._existing_bucket(bucket, "AbortMultipartUpload")
        path = self._temp_file(bucket, key, upload_id)
        if path is None:
            return
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise _refused(bucket, key, exc) from None
        _prune(bucket_dir, path)

    def _temp_file(self, bucket: str, key: str, upload_id: str) -> Path | None:
        """The temporary file `upload_id` of a write of `key`; None for a name that is
        not one (nothing else is ever touched)."""
        if "/" in upload_id or _temp_target(upload_id) != key.rsplit("/", 1)[-1]:
            return None
        try:
            return self._object_path(bucket, key).with_name(upload_id)
        except InvalidKeyError:
            return None

    def delete(self, bucket: str, key: str) -> None:
        try:
            self._remove(self._existing_bucket(bucket, "DeleteObject"), bucket, key)
        except OSError as exc:
            raise _refused(bucket, key, exc) from None

    def delete_many(
        self, bucket: str, keys: Sequence[str]
    ) -> builtins.list[tuple[str, DeltaGliderError]]:
        """One key after another; a file the system will not remove is that key's error."""
        bucket_dir = self._existing_bucket(bucket, "DeleteObjects")
        failed: builtins.list[tuple[str, DeltaGliderError]] = []
        for key in keys:
            try:
                self._remove(bucket_dir, bucket, key)
            except OSError as exc:
                failed.append((key, _refused(bucket, key, exc)))
        return failed

    def _remove(self, bucket_dir: Path, bucket: str, key: str) -> None:
        try:
            path = self._object_path(bucket, key)
        except InvalidKeyError:
            return
        try:
            if path.is_dir():
                return  # a "folder" is not an object
            path.unlink(missing_ok=True)
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ENAMETOOLONG):
                return  # through an object, or a name too long: no such object here
            raise
        self._meta_path(path).unlink(missing_ok=True)
        _prune(bucket_dir, path)


def _prune(bucket_dir: Path, path: Path) -> None:
    """S3 has no folders: drop the ones a removal left empty."""
    for parent in path.parents:
        if parent == bucket_dir:
            break
        try:
            parent.rmdir()
        except OSError:
            break


def _temp_target(name: str) -> str | None:
    """The name of the object a temporary file was written for (its data or its
    sidecar); None when `name` is not a temporary file's."""
    found = _TEMP.fullmatch(name)
    if found is None:
        return None
    target = found[1]
    if target.startswith(".") and target.endswith(META_SUFFIX):
        return target[1 : -len(META_SUFFIX)]
    return target


def _filled_with(body: bytes) -> Callable[[Path], object]:
    """What fills a new object's data file with bytes held in memory."""
    return lambda data: data.write_bytes(body)


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


@dataclass(frozen=True)
class _Sidecar:
    """An object's metadata and the ETag of the data file written with it (None in
    sidecars written before ETags were recorded)."""

    metadata: dict[str, str]
    etag: str | None


def _refused(bucket: str, key: str, exc: OSError) -> DeltaGliderError:
    """The error of a key whose file the system would not remove."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return AccessDenied(f"Access denied (DeleteObject on s3://{bucket}/{key}): {reason}")
    return StorageError(f"cannot remove s3://{bucket}/{key}: {reason}")


def _regular_stat(path: Path) -> os.stat_result | None:
    """The stat of the object file at `path`; None when there is no such file."""
    try:
        found = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return found if stat.S_ISREG(found.st_mode) else None


def _mtime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _etag(found: os.stat_result) -> str:
    """Size, mtime and inode: every write is a new file renamed into place, so each
    write gets its own ETag (a rename keeps all three)."""
    return f'"{found.st_size:x}-{found.st_mtime_ns:x}-{found.st_ino:x}"'
