"""Multipart uploads staged in the store itself, so that any process on any machine can
continue or complete an upload another began (docs/FORMAT.md, section 2).

An upload is a record, `.dg-mpu-{id}` at the bucket's root (JSON: the key, when it
began, who began it, the object's Content-Type, user metadata and kept headers), and
its parts, `.dg-mpp-{id}-{number:05d}`, each the part's bytes with their MD5 in
`dg-part-md5`. Both names are internal: never listed, removed with their bucket.
Completing reads the parts in order (each checked against its MD5) into one spooled
body, stores it as any upload is stored (a delta when that pays) with S3's multipart
ETag and the part sizes, then removes the record and every staged part; aborting removes
them without storing anything.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from deltaglider.core.attributes import Attributes
from deltaglider.core.errors import (
    BucketNotFound,
    FormatError,
    IntegrityError,
    InvalidPart,
    ObjectNotFound,
    UploadNotFound,
)
from deltaglider.core.models import (
    STAGED_PART_PREFIX,
    UPLOAD_RECORD_PREFIX,
    ObjectKey,
    PutResult,
)
from deltaglider.core.scratch import scratch_dir
from deltaglider.core.service import DeltaService
from deltaglider.core.spool import CHUNK, Spooled
from deltaglider.ports import ObjectInfo

RECORD_PREFIX = UPLOAD_RECORD_PREFIX
PART_PREFIX = STAGED_PART_PREFIX
PART_MD5 = "dg-part-md5"
MIN_PART = 5 * 1024 * 1024  # S3's smallest part but the last
MAX_PART_NUMBER = 10_000
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Upload:
    """A multipart upload under way."""

    bucket: str
    upload_id: str
    key: str
    initiated: datetime
    owner: str
    attributes: Attributes = field(default_factory=Attributes)


@dataclass(frozen=True)
class Part:
    """A staged part: its number, the MD5 of its bytes (hex), size and time."""

    number: int
    md5: str
    size: int
    last_modified: datetime

    @property
    def etag(self) -> str:
        return f'"{self.md5}"'


def multipart_etag(md5s: Sequence[str]) -> str:
    """S3's ETag of a completed upload: the MD5 of the parts' MD5s, `-`, their count."""
    joined = hashlib.md5(b"".join(bytes.fromhex(m) for m in md5s)).hexdigest()
    return f"{joined}-{len(md5s)}"


class Multipart:
    """Multipart uploads of one service's store."""

    def __init__(self, service: DeltaService) -> None:
        self.service = service
        self.storage = service.storage

    def create(self, key: ObjectKey, attributes: Attributes, owner: str) -> Upload:
        if not self.service.buckets.bucket_exists(key.bucket):
            raise BucketNotFound(key.bucket, "CreateMultipartUpload")
        upload = Upload(key.bucket, secrets.token_hex(16), key.key, self.service.clock.now(),
                        owner, attributes)  # fmt: skip
        record = {
            "key": upload.key, "initiated": upload.initiated.isoformat(), "owner": owner,
            "content_type": attributes.content_type,
            "user_metadata": dict(attributes.user_metadata), "headers": dict(attributes.headers),
        }  # fmt: skip
        self.storage.upload(key.bucket, RECORD_PREFIX + upload.upload_id,
                            json.dumps(record).encode(), {"dg-kind": "upload"})  # fmt: skip
        return upload

    def find(self, key: ObjectKey, upload_id: str) -> Upload:
        """The upload begun for `key` under this id; UploadNotFound otherwise."""
        upload = self._read(key.bucket, upload_id)
        if upload is None or upload.key != key.key:
            raise UploadNotFound(key.bucket, key.key, upload_id)
        return upload

    def _read(self, bucket: str, upload_id: str) -> Upload | None:
        if not _UPLOAD_ID.fullmatch(upload_id):
            return None
        with scratch_dir() as work:
            try:
                self.storage.download(bucket, RECORD_PREFIX + upload_id, work / "record")
            except ObjectNotFound:
                return None
            try:
                record = json.loads((work / "record").read_text(encoding="utf-8"))
                return Upload(
                    bucket, upload_id, record["key"], datetime.fromisoformat(record["initiated"]),
                    record["owner"], Attributes(
                        content_type=record["content_type"],
                        user_metadata=record["user_metadata"], headers=record["headers"]),
                )  # fmt: skip
            except (ValueError, KeyError, TypeError) as exc:
                raise FormatError(f"s3://{bucket}/{RECORD_PREFIX}{upload_id}: {exc}") from None

    def stage(self, upload: Upload, number: int, body: Spooled) -> Part:
        """Store one part (replacing an earlier one of the same number)."""
        self.storage.upload(upload.bucket, _part_key(upload.upload_id, number), body.source(),
                            {PART_MD5: body.md5, "dg-kind": "part"})  # fmt: skip
        return Part(number, body.md5, body.size, self.service.clock.now())

    def parts(self, upload: Upload) -> list[Part]:
        """The staged parts, by number."""
        found = []
        prefix = f"{PART_PREFIX}{upload.upload_id}-"
        for entry in self.storage.list(upload.bucket, prefix):
            assert isinstance(entry, ObjectInfo)  # no delimiter: no common prefixes
            number = entry.key[len(prefix) :]
            head = self.storage.head(upload.bucket, entry.key)
            if number.isdigit() and head is not None and PART_MD5 in head.metadata:
                found.append(Part(int(number), head.metadata[PART_MD5], head.size,
                                  head.last_modified))  # fmt: skip
        return sorted(found, key=lambda part: part.number)

    def uploads(self, bucket: str) -> list[Upload]:
        """Every upload under way in the bucket, by key, then by when it began."""
        found = []
        for entry in self.storage.list(bucket, RECORD_PREFIX, "/"):
            if isinstance(entry, ObjectInfo):
                upload = self._read(bucket, entry.key[len(RECORD_PREFIX) :])
                if upload is not None:
                    found.append(upload)
        return sorted(found, key=lambda u: (u.key, u.initiated))

    def chosen(self, upload: Upload, wanted: Sequence[tuple[int, str]]) -> list[Part]:
        """The staged parts a completion names, checked as S3 checks them: numbers in
        ascending order (a number named twice: its last entry counts, as a part sent
        twice is the last one that arrived), each staged with the ETag given, all but
        the last 5 MiB or more."""
        numbers = [number for number, _ in wanted]
        if numbers != sorted(numbers):
            raise InvalidPart("the parts are not in ascending order", code="InvalidPartOrder",
                              message="The list of parts was not in ascending order. The "
                              "parts list must be specified in order by part number.")  # fmt: skip
        staged = {part.number: part for part in self.parts(upload)}
        parts = []
        for number, etag in dict(wanted).items():
            part = staged.get(number)
            if part is None or part.md5 != etag.strip().strip('"').lower():
                raise InvalidPart(f"part {number} is not staged with ETag {etag}")
            parts.append(part)
        for part in parts[:-1]:
            if part.size < MIN_PART:
                raise InvalidPart(f"part {part.number} has {part.size} bytes",
                                  code="EntityTooSmall", message="Your proposed upload is "
                                  "smaller than the minimum allowed object size.")  # fmt: skip
        return parts

    def complete(self, upload: Upload, parts: Sequence[Part]) -> PutResult:
        """Store the parts as one object, then remove the upload and its staged parts."""
        attributes = upload.attributes
        key = ObjectKey(upload.bucket, upload.key)
        with self.service.spool(self._assembled(upload, parts)) as spooled:
            result = self.service.store(
                key, spooled, content_type=attributes.content_type,
                user_metadata=attributes.user_metadata, headers=attributes.headers,
                etag=multipart_etag([p.md5 for p in parts]),
                part_sizes=tuple(p.size for p in parts),
            )  # fmt: skip
        self.abort(upload)
        return result

    def abort(self, upload: Upload) -> None:
        """Remove the staged parts, then the record (so a retry still finds the upload)."""
        prefix = f"{PART_PREFIX}{upload.upload_id}-"
        staged = [e.key for e in self.storage.list(upload.bucket, prefix)
                  if isinstance(e, ObjectInfo)]  # fmt: skip
        for start in range(0, len(staged), 1000):
            self.storage.delete_many(upload.bucket, staged[start : start + 1000])
        self.storage.delete(upload.bucket, RECORD_PREFIX + upload.upload_id)

    def _assembled(self, upload: Upload, parts: Sequence[Part]) -> Iterator[bytes]:
        """The parts' bytes in order, each fetched to scratch and checked against its MD5."""
        for part in parts:
            with scratch_dir() as work:
                path = work / "part"
                self.storage.download(upload.bucket, _part_key(upload.upload_id, part.number),
                                      path)  # fmt: skip
                digest = hashlib.md5()
                with path.open("rb") as body:
                    while chunk := body.read(CHUNK):
                        digest.update(chunk)
                        yield chunk
                if digest.hexdigest() != part.md5:
                    raise IntegrityError(
                        f"s3://{upload.bucket}/{upload.key}: staged part {part.number} of "
                        f"upload {upload.upload_id} does not match its MD5"
                    )


def _part_key(upload_id: str, number: int) -> str:
    return f"{PART_PREFIX}{upload_id}-{number:05d}"
