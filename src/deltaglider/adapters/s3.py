"""StoragePort over S3 (AWS or any S3-compatible store) through boto3."""

from __future__ import annotations

import builtins
import hashlib
import io
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    ResponseStreamingError,
)

from deltaglider.adapters import s3_incomplete
from deltaglider.adapters.s3_errors import from_code, mapped
from deltaglider.adapters.s3_parts import PART as DOWNLOAD_PART
from deltaglider.adapters.s3_parts import (
    ObjectRanges,
    RangedGets,
    ShortBody,
    download_in_parts,
    ranges_cheap,
    upload_in_parts,
)
from deltaglider.core import progress
from deltaglider.core.errors import (
    BucketNotFound,
    DeltaGliderError,
    ObjectChanged,
    ObjectNotFound,
    StorageError,
)
from deltaglider.core.limits import check_put
from deltaglider.core.models import PROBE_PREFIX
from deltaglider.core.trailing import TrailingDigest
from deltaglider.ports import (
    BucketInfo,
    ByteRanges,
    CommonPrefix,
    IncompleteUpload,
    ObjectInfo,
    UploadProgress,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK = 1024 * 1024
DOWNLOAD_ATTEMPTS = 3
SINGLE_PUT_LIMIT = 5 * 1024**3  # S3's largest single PUT
SINGLE_COPY_LIMIT = 5 * 1024**3  # S3's largest source for one CopyObject
COPY_PART_SIZE = 256 * 1024**2  # parts copied inside the store: few and large
DELETE_BATCH = 1000  # S3's most keys in one DeleteObjects
_COPY_ONTO_ITSELF = (
    "An object cannot be copied onto itself without changing its metadata (S3 refuses it)"
)
MAX_PARTS = 10_000  # S3's most parts in one multipart upload
TRANSFER = TransferConfig(
    multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024
)


class S3Storage:
    """Objects in S3 buckets; boto3 resolves credentials, profiles and regions."""

    def __init__(
        self,
        client: S3Client,
        *,
        single_put_limit: int = SINGLE_PUT_LIMIT,
        part_size: int = TRANSFER.multipart_chunksize,
        single_copy_limit: int = SINGLE_COPY_LIMIT,
        copy_part_size: int = COPY_PART_SIZE,
        download_part_size: int = DOWNLOAD_PART,
        ranges_cheap: bool | None = None,
    ) -> None:
        """The limits are S3's own; tests lower them to exercise large-object paths, and
        set `ranges_cheap` to take one way of downloading (else measured: s3_parts.py)."""
        self._client = client
        self._ranged = RangedGets(ranges_cheap)  # whether each server serves ranges cheaply
        self._exclusive_completes: dict[str, bool] = {}
        self._probe_lock = threading.Lock()
        self.single_put_limit = single_put_limit
        self.part_size = part_size
        self.single_copy_limit = single_copy_limit
        self.copy_part_size = copy_part_size
        self.download_part_size = download_part_size

    @property
    def client(self) -> S3Client:
        """The boto3 client (its event hooks are how tests inject faults)."""
        return self._client

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            with mapped(bucket, key):
                found = self._client.head_object(Bucket=bucket, Key=key)
        except ObjectNotFound:
            return None
        return ObjectInfo(
            key=key,
            size=found["ContentLength"],
            last_modified=found["LastModified"],
            etag=found.get("ETag", ""),
            metadata={k.lower(): v for k, v in found.get("Metadata", {}).items()},
        )

    def list(
        self, bucket: str, prefix: str, delimiter: str | None = None, *, start_after: str = ""
    ) -> Iterator[ObjectInfo | CommonPrefix]:
        paginator = self._client.get_paginator("list_objects_v2")
        arguments = {"Bucket": bucket, "Prefix": prefix}
        if delimiter:
            arguments["Delimiter"] = delimiter
        if start_after:
            arguments["StartAfter"] = start_after
        with mapped(bucket):
            for page in paginator.paginate(**arguments):  # type: ignore[arg-type]
                entries: list[ObjectInfo | CommonPrefix] = [
                    ObjectInfo(
                        key=item["Key"],
                        size=item["Size"],
                        last_modified=item["LastModified"],
                        etag=item.get("ETag", ""),
                    )
                    for item in page.get("Contents", [])
                ]
                entries += [CommonPrefix(p["Prefix"]) for p in page.get("CommonPrefixes", [])]
                entries.sort(key=_sort_key)
                # A CommonPrefix that StartAfter falls in is left out, whatever the server does.
                yield from (e for e in entries if _sort_key(e) > start_after.encode())

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
        """In parts, `unchanged` is called before the completion; in one PUT, as the
        read of the body reaches its end, before its last bytes are sent."""
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        with mapped(bucket, key), _reading(source, unchanged) as body:
            in_parts = size >= TRANSFER.multipart_threshold and (
                not create_only
                or size > self.single_put_limit
                or (isinstance(source, Path) and self._completes_exclusively(bucket, key))
            )
            if not in_parts:
                extra = {"IfNoneMatch": "*"} if create_only else {}
                try:
                    done = self._client.put_object(
                        Bucket=bucket, Key=key, Body=body, Metadata=dict(metadata),
                        **extra,  # type: ignore[arg-type]
                    )  # fmt: skip
                except Exception:
                    # The body's check, raised inside botocore (or its CRT checksum,
                    # which wraps it), is the failure to report.
                    if isinstance(body, _CheckedAtEnd) and body.failure is not None:
                        raise body.failure from None
                    raise
                return done["ETag"]
            if create_only or unchanged is not None:
                part_size = max(self.part_size, -(-size // MAX_PARTS))
                etag = upload_in_parts(self._client, bucket, key, source, metadata, size=size,
                                       part_size=part_size, create_only=create_only,
                                       before_complete=unchanged)  # fmt: skip
                return etag or self._client.head_object(Bucket=bucket, Key=key)["ETag"]
            sent = {
                "ExtraArgs": {"Metadata": dict(metadata)},
                "Config": TRANSFER,
                "Callback": progress.current(),
            }
            if isinstance(source, bytes):
                self._client.upload_fileobj(body, bucket, key, **sent)  # type: ignore[arg-type]
            else:  # from the path: parts are read side by side
                self._client.upload_file(str(source), bucket, key, **sent)  # type: ignore[arg-type]
            # Some stores (Ceph RGW) answer a completed multipart upload with no ETag.
            return self._client.head_object(Bucket=bucket, Key=key)["ETag"]

    def _completes_exclusively(self, bucket: str, key: str) -> bool:
        """Whether the bucket's server refuses a multipart completion with If-None-Match: *
        onto an existing key (S3 and moto do; Ceph RGW 16 completes it anyway), found out
        once per bucket with a probe object beside `key`. Where it does not, a create-only
        upload up to the single-PUT limit goes as one PUT, whose condition is honoured."""
        with self._probe_lock:
            known = self._exclusive_completes.get(bucket)
            if known is not None:
                return known
            folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
            probe = f"{folder}{PROBE_PREFIX}{os.urandom(8).hex()}"
            self._client.put_object(Bucket=bucket, Key=probe, Body=b"")
            try:
                started = self._client.create_multipart_upload(Bucket=bucket, Key=probe)
                upload_id = started["UploadId"]
                done = self._client.upload_part(
                    Bucket=bucket, Key=probe, UploadId=upload_id, PartNumber=1, Body=b"probe"
                )
                try:
                    self._client.complete_multipart_upload(
                        Bucket=bucket,
                        Key=probe,
                        UploadId=upload_id,
                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": done["ETag"]}]},
                        IfNoneMatch="*",
                    )
                    honoured = False
                except ClientError as exc:
                    honoured = exc.response.get("Error", {}).get("Code") in (
                        "PreconditionFailed",
                        "412",
                    )
                    with suppress(ClientError, BotoCoreError):
                        self._client.abort_multipart_upload(
                            Bucket=bucket, Key=probe, UploadId=upload_id
                        )
            finally:
                self._client.delete_object(Bucket=bucket, Key=probe)
            self._exclusive_completes[bucket] = honoured
            return honoured

    def download(
        self, bucket: str, key: str, destination: Path, *, if_match: str | None = None
    ) -> None:
        """The object in parts side by side where the server serves ranges cheaply, else
        streamed (s3_parts.py). A body cut short is fetched again, up to three times in
        all, with the same If-Match, so every attempt reads the version asked for."""
        self._download(bucket, key, destination, if_match, hashed=False)

    def download_hashed(
        self,
        bucket: str,
        key: str,
        destination: Path,
        *,
        if_match: str | None = None,
        written: Callable[[int, int], None] | None = None,
    ) -> str:
        """`download`, and the SHA256 of what it wrote, hashed as the parts land;
        `written` hears of each range as it lands."""
        sha256 = self._download(bucket, key, destination, if_match, hashed=True, written=written)
        assert sha256 is not None
        return sha256

    def _download(
        self,
        bucket: str,
        key: str,
        destination: Path,
        if_match: str | None,
        *,
        hashed: bool,
        written: Callable[[int, int], None] | None = None,
    ) -> str | None:
        """The download, and when `hashed` the SHA256 of what it wrote."""
        attempt = 0
        while True:
            attempt += 1
            with mapped(bucket, key), TrailingDigest(destination, "sha256") as digest:
                hears = _both(digest.written, written) if hashed else written
                try:
                    size = download_in_parts(
                        self._client, self._ranged, bucket, key, destination, if_match,
                        self.download_part_size, hears,
                    )  # fmt: skip
                    return digest.finished(size)() if hashed else None
                except (ConnectionError, ResponseStreamingError, ShortBody):
                    pass  # cut short: again
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "InvalidRange":
                        raise
                    # an empty object has no first byte to ask for
                    self._download_whole(bucket, key, destination, if_match)
                    if written is not None:
                        written(0, destination.stat().st_size)
                    return hashlib.sha256(destination.read_bytes()).hexdigest() if hashed else None
            if attempt == DOWNLOAD_ATTEMPTS:
                raise _cut_short(bucket, key)

    def _download_whole(
        self, bucket: str, key: str, destination: Path, if_match: str | None
    ) -> None:
        """One GET streamed to the file."""
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            with mapped(bucket, key):
                if if_match is None:
                    found = self._client.get_object(Bucket=bucket, Key=key)
                else:
                    found = self._client.get_object(Bucket=bucket, Key=key, IfMatch=if_match)
                expected = found["ContentLength"]
                try:
                    with destination.open("wb") as out:
                        while chunk := found["Body"].read(CHUNK):
                            out.write(chunk)
                            progress.advance(len(chunk))
                        written = out.tell()
                except (ConnectionError, ResponseStreamingError):
                    written = -1
            if written == expected:
                return
            if attempt == DOWNLOAD_ATTEMPTS:
                raise _cut_short(bucket, key)

    def byte_ranges(self, bucket: str, key: str, size: int, version: str) -> ByteRanges | None:
        """Ranges of one version of the object, each a GET; None where ranges are
        costly (learnt once per bucket: s3_parts.py)."""
        with mapped(bucket, key):
            if not ranges_cheap(self._client, self._ranged, bucket, key, size, version):
                return None
        return ObjectRanges(self._client, bucket, key, version, size)

    def delete(self, bucket: str, key: str) -> None:
        with mapped(bucket, key):
            self._client.delete_object(Bucket=bucket, Key=key)

    def delete_many(
        self, bucket: str, keys: Sequence[str]
    ) -> builtins.list[tuple[str, DeltaGliderError]]:
        """DeleteObjects in Quiet mode, so the answers list only the keys refused."""
        failed: builtins.list[tuple[str, DeltaGliderError]] = []
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            with mapped(bucket):
                done = self._client.delete_objects(
                    Bucket=bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
            for refused in done.get("Errors", []):
                key = refused.get("Key", "")
                code = refused.get("Code", "")
                error = from_code(
                    code,
                    refused.get("Message") or None,
                    403 if code == "AccessDenied" else 500,
                    "DeleteObjects",
                    bucket,
                    key,
                )
                if not isinstance(error, ObjectNotFound):  # gone already, as asked
                    failed.append((key, error))
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
        """A HEAD of the source (with the If-Match) gives its size, which decides between
        one CopyObject and a copy in parts; the copy itself carries the If-Match again, so
        the version copied is the one checked even if the key is overwritten in between."""
        if (bucket, key) == (dest_bucket, dest_key) and metadata is None:
            raise StorageError(_COPY_ONTO_ITSELF)  # S3 says so of a CopyObject, not of parts
        check_put(dest_bucket, dest_key, metadata or {})
        try:
            with mapped(bucket, key):
                if if_match is None:
                    found = self._client.head_object(Bucket=bucket, Key=key)
                else:
                    found = self._client.head_object(Bucket=bucket, Key=key, IfMatch=if_match)
        except (BucketNotFound, ObjectNotFound):
            # A HEAD's 404 has no body to tell a missing key from a missing bucket.
            if not self.bucket_exists(bucket):
                raise BucketNotFound(bucket, "CopyObject") from None
            raise ObjectNotFound(bucket, key) from None
        try:
            # Errors name the destination, but a missing key or a version gone is the source's.
            with mapped(dest_bucket, dest_key):
                if found["ContentLength"] <= self.single_copy_limit:
                    return self._copy_whole(bucket, key, dest_bucket, dest_key, metadata, if_match)
                source = _Source(bucket, key, found["ContentLength"], found["ETag"])
                kept = {k.lower(): v for k, v in found.get("Metadata", {}).items()}
                return self._copy_in_parts(
                    source, dest_bucket, dest_key, kept if metadata is None else metadata
                )
        except BucketNotFound as exc:
            raise BucketNotFound(exc.bucket or dest_bucket, "CopyObject") from None
        except ObjectNotFound:
            raise ObjectNotFound(bucket, key) from None
        except ObjectChanged:
            raise ObjectChanged(bucket, key) from None

    def _copy_whole(
        self,
        bucket: str,
        key: str,
        dest_bucket: str,
        dest_key: str,
        metadata: Mapping[str, str] | None,
        if_match: str | None,
    ) -> str:
        arguments: dict[str, object] = {
            "Bucket": dest_bucket,
            "Key": dest_key,
            "CopySource": {"Bucket": bucket, "Key": key},
        }
        if metadata is not None:
            arguments |= {"Metadata": dict(metadata), "MetadataDirective": "REPLACE"}
        if if_match is not None:
            arguments["CopySourceIfMatch"] = if_match
        done = self._client.copy_object(**arguments)  # type: ignore[arg-type]
        etag = done["CopyObjectResult"]["ETag"]
        # Ceph RGW leaves this one ETag unquoted; listings and HEADs quote it.
        return etag if etag.startswith('"') else f'"{etag}"'

    def _copy_in_parts(
        self, source: _Source, dest_bucket: str, dest_key: str, metadata: Mapping[str, str]
    ) -> str:
        """UploadPartCopy of byte ranges, each bound to the source's ETag by If-Match;
        before completing, a HEAD with that If-Match makes sure no part came from a later
        version (moto and Ceph RGW 16 ignore the condition on parts). Any failure aborts the
        upload; an abort that fails in turn leaves the first error to be seen."""
        part_size = max(self.copy_part_size, -(-source.size // MAX_PARTS))
        started = self._client.create_multipart_upload(
            Bucket=dest_bucket, Key=dest_key, Metadata=dict(metadata)
        )
        upload_id = started["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, source.size, part_size), 1):
                end = min(start + part_size, source.size) - 1
                done = self._client.upload_part_copy(
                    Bucket=dest_bucket,
                    Key=dest_key,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource={"Bucket": source.bucket, "Key": source.key},
                    CopySourceRange=f"bytes={start}-{end}",
                    CopySourceIfMatch=source.etag,
                )
                parts.append({"PartNumber": number, "ETag": done["CopyPartResult"]["ETag"]})
            self._client.head_object(Bucket=source.bucket, Key=source.key, IfMatch=source.etag)
            finished = self._client.complete_multipart_upload(
                Bucket=dest_bucket,
                Key=dest_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            )
        except BaseException:
            with suppress(ClientError, BotoCoreError):
                self._client.abort_multipart_upload(
                    Bucket=dest_bucket, Key=dest_key, UploadId=upload_id
                )
            raise
        etag = finished.get("ETag")
        return etag or self._client.head_object(Bucket=dest_bucket, Key=dest_key)["ETag"]

    def incomplete_uploads(self, bucket: str, prefix: str) -> Iterator[IncompleteUpload]:
        with mapped(bucket):
            yield from s3_incomplete.incomplete_uploads(self._client, bucket, prefix)

    def upload_progress(self, bucket: str, key: str, upload_id: str) -> UploadProgress | None:
        with mapped(bucket, key):
            try:
                return s3_incomplete.upload_progress(self._client, bucket, key, upload_id)
            except ClientError as exc:
                if not _upload_gone(exc):
                    raise
                return None

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        with mapped(bucket, key):
            try:
                self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except ClientError as exc:
                if not _upload_gone(exc):
                    raise

    def presigned_get(self, bucket: str, key: str, expires_in: int) -> str:
        """A URL that GETs the object without credentials until `expires_in` seconds pass."""
        with mapped(bucket, key):
            return self._client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
            )

    def bucket_exists(self, bucket: str) -> bool:
        try:
            with mapped(bucket):
                self._client.head_bucket(Bucket=bucket)
        except (BucketNotFound, ObjectNotFound):
            return False
        return True

    def list_buckets(self) -> Iterator[BucketInfo]:
        with mapped(""):
            found = self._client.list_buckets()
        for bucket in found.get("Buckets", []):
            yield BucketInfo(bucket["Name"], bucket["CreationDate"])

    def create_bucket(self, bucket: str) -> None:
        region = self._client.meta.region_name
        with mapped(bucket):
            if region in (None, "us-east-1"):
                self._client.create_bucket(Bucket=bucket)
            else:
                self._client.create_bucket(
                    Bucket=bucket,
                    CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
                )

    def delete_bucket(self, bucket: str) -> None:
        with mapped(bucket):
            self._client.delete_bucket(Bucket=bucket)


@contextmanager
def _reading(source: Path | bytes, unchanged: Callable[[], None] | None) -> Iterator[BinaryIO]:
    """The bytes to upload as a stream, whether a file or held in memory; a file with
    `unchanged` calls it as a read reaches its end."""
    if isinstance(source, bytes):
        yield io.BytesIO(source)
    elif unchanged is not None:
        with _CheckedAtEnd(source, unchanged) as stream:
            yield stream
    else:
        with source.open("rb") as stream:
            yield stream


class _CheckedAtEnd(io.FileIO):
    """A file that calls `unchanged` whenever a read reaches its end, before handing
    over the bytes read: a PUT sending it stops before its last bytes when the file
    changed (the server, its body cut short, stores nothing). A body read twice (for
    its checksum, then sent) is checked each time."""

    def __init__(self, path: Path, unchanged: Callable[[], None]) -> None:
        super().__init__(path, "rb")
        self._unchanged = unchanged
        self._size = os.fstat(self.fileno()).st_size
        self.failure: Exception | None = None  # what `unchanged` raised

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self._check_at_end()
        return data if data is not None else b""

    def readinto(self, buffer: Any) -> int:
        count = super().readinto(buffer)
        self._check_at_end()
        return count or 0

    def _check_at_end(self) -> None:
        if self.tell() >= self._size:
            try:
                self._unchanged()
            except Exception as exc:
                self.failure = exc
                raise


@dataclass(frozen=True)
class _Source:
    """The version of an object being copied in parts."""

    bucket: str
    key: str
    size: int
    etag: str


def _cut_short(bucket: str, key: str) -> StorageError:
    """A download whose body ended early on every attempt."""
    return StorageError(
        f"s3://{bucket}/{key}: the body ended early, {DOWNLOAD_ATTEMPTS} times",
        bucket=bucket,
        key=key,
        operation="GetObject",
    )


def _upload_gone(exc: ClientError) -> bool:
    """Whether the store says there is no such multipart upload (completed or aborted):
    NoSuchUpload, or from Ceph RGW 16, NoSuchKey."""
    return exc.response.get("Error", {}).get("Code") in ("NoSuchUpload", "NoSuchKey")


def _sort_key(entry: ObjectInfo | CommonPrefix) -> bytes:
    return (entry.key if isinstance(entry, ObjectInfo) else entry.prefix).encode()


def _both(
    one: Callable[[int, int], None], other: Callable[[int, int], None] | None
) -> Callable[[int, int], None]:
    """A `written` callback that tells `one`, then `other` (when there is one)."""
    if other is None:
        return one

    def hear(start: int, end: int) -> None:
        one(start, end)
        other(start, end)

    return hear
