"""Multipart uploads in progress: their parts, kept in a private scratch directory until
the upload is completed (then stored as one logical object, with the multipart ETag S3
would give it) or aborted.

They live in the client that started them, as the parts of an S3 upload live in S3
until it completes; a process that ends leaves nothing behind. Parts of one upload may
arrive from many threads at once (s3transfer sends ten).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from deltaglider.app.client.failures import S3Failure
from deltaglider.core.errors import BadDigest, IncompleteBody
from deltaglider.core.scratch import private_dir, untrack

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    md5: str  # hex
    last_modified: datetime
    path: Path

    @property
    def etag(self) -> str:
        return f'"{self.md5}"'


@dataclass
class Upload:
    """One multipart upload: where it goes, what the object will say, its parts."""

    upload_id: str
    bucket: str
    key: str
    content_type: str | None
    user_metadata: Mapping[str, str]
    headers: Mapping[str, str]  # those S3 keeps: Cache-Control, Expires, ...
    initiated: datetime
    directory: Path
    parts: dict[int, Part] = field(default_factory=dict)

    def sorted_parts(self) -> list[Part]:
        return [self.parts[n] for n in sorted(self.parts)]


class Uploads:
    """The uploads of one client, by UploadId."""

    def __init__(self) -> None:
        self._root = private_dir("uploads-")  # removed by an interrupted process too
        self._uploads: dict[str, Upload] = {}
        self._lock = threading.Lock()
        weakref.finalize(self, _remove, self._root)

    def start(
        self,
        bucket: str,
        key: str,
        content_type: str | None,
        user_metadata: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> Upload:
        upload_id = secrets.token_urlsafe(48)
        directory = self._root / secrets.token_hex(8)
        directory.mkdir()
        upload = Upload(
            upload_id,
            bucket,
            key,
            content_type,
            dict(user_metadata),
            dict(headers),
            datetime.now(UTC),
            directory,
        )
        with self._lock:
            self._uploads[upload_id] = upload
        return upload

    def get(self, bucket: str, key: str, upload_id: str) -> Upload:
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None or (upload.bucket, upload.key) != (bucket, key):
            raise no_such_upload(upload_id)
        return upload

    def add_part(
        self,
        upload: Upload,
        number: int,
        body: BinaryIO | Iterable[bytes],
        size: int | None,
        content_md5: str | None = None,
    ) -> Part:
        """Keep a part (replacing one of the same number), hashing it as it is written;
        `size` and `content_md5` (base64), when sent, must be the part's."""
        temporary = upload.directory / f"{number}.{secrets.token_hex(4)}.tmp"
        md5 = hashlib.md5()
        written = 0
        with temporary.open("wb") as out:
            for chunk in _chunks(body):
                md5.update(chunk)
                out.write(chunk)
                written += len(chunk)
        if size is not None and written != size:
            temporary.unlink()
            raise IncompleteBody(size, written)
        actual = base64.b64encode(md5.digest()).decode()
        if content_md5 is not None and content_md5.strip() != actual:
            temporary.unlink()
            raise BadDigest(content_md5, actual)
        path = upload.directory / f"{number}.part"
        part = Part(number, written, md5.hexdigest(), datetime.now(UTC), path)
        with self._lock:
            if upload.upload_id not in self._uploads:  # aborted meanwhile
                temporary.unlink()
                raise no_such_upload(upload.upload_id)
            temporary.replace(path)
            upload.parts[number] = part
        return part

    def finish(self, upload: Upload) -> None:
        """Forget a completed or aborted upload and drop its parts."""
        with self._lock:
            self._uploads.pop(upload.upload_id, None)
        shutil.rmtree(upload.directory, ignore_errors=True)

    def in_bucket(self, bucket: str) -> list[Upload]:
        with self._lock:
            found = [u for u in self._uploads.values() if u.bucket == bucket]
        return sorted(found, key=lambda u: (u.key, u.initiated, u.upload_id))


def _remove(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
    untrack(root)


def no_such_upload(upload_id: str) -> S3Failure:
    return S3Failure(
        404,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload "
        "may have been aborted or completed.",
        {"UploadId": upload_id},
    )


def read_parts(parts: list[Part]) -> Iterator[bytes]:
    """The bytes of the parts, in order, as one stream."""
    for part in parts:
        with part.path.open("rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk


def _chunks(body: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    read = getattr(body, "read", None)
    if read is None:
        yield from (bytes(chunk) for chunk in body)
        return
    while chunk := read(CHUNK):
        yield chunk
