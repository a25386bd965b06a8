"""Large objects moved in parts side by side, as `aws s3 cp` moves them.

Downloads: S3 serves byte ranges of an object independently, so a large object comes
fastest as parts fetched in parallel, each written at its offset. Not every server
does: some (moto) copy the whole object for every ranged GET, which makes parallel
ranges many times slower than one streamed GET. Which kind of server this is is found
by measurement, once per bucket, on the first large object: a server that reads the
whole object for a range is slow to answer it in proportion to the object's size (moto
takes 0.4-0.5 s for any range of a 1 GB object), one that does not answers in about a
round trip, whatever the size. When the first part's answer took longer than reading
the object at SCAN_RATE would, the rest comes as one streamed GET of the whole object
(its first part read past: a range would cost another read of it all), and the bucket's
later objects as one GET each.

Uploads: parts read at their offsets by several threads (no shared file position) and
sent side by side; a create-only upload completes with If-None-Match: *.

Every request for a part carries the If-Match of the version being read, so parts of
two versions are never mixed.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    ResponseStreamingError,
)

from deltaglider.adapters.s3_errors import mapped
from deltaglider.core import progress
from deltaglider.core.errors import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_T = TypeVar("_T")
PART = 16 * 1024 * 1024
WORKERS = 8  # parts in flight (of one object)
PARALLEL_PARTS = 4  # objects of at most this many parts come in one or two GETs
READ = 1024 * 1024
ATTEMPTS = 3
SCAN_RATE = 4e9  # bytes/s: a range answered slower than a scan of the object at this rate
SLOW_ANSWER = 0.05  # s: ... and slower than this, costs a read of the whole object
PART_CHECKSUM: Final = "CRC32"


class RangedGets:
    """Whether ranged GETs are cheap, per bucket, learnt by measuring the first part."""

    def __init__(self, assumed: bool | None = None) -> None:
        """`assumed`: the answer for every bucket, not measured (tests take each path)."""
        self._cheap: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._assumed = assumed

    def known(self, bucket: str) -> bool | None:
        with self._lock:
            return self._cheap.get(bucket, self._assumed)

    def learn(self, bucket: str, cheap: bool) -> None:
        with self._lock:
            self._cheap.setdefault(bucket, cheap)


def download_in_parts(
    client: S3Client,
    ranged: RangedGets,
    bucket: str,
    key: str,
    destination: Path,
    if_match: str | None,
    part: int = PART,
    written: Callable[[int, int], None] | None = None,
) -> int:
    """Fetch an object into `destination`, and return its size: its first part says
    its size and version; the rest comes in parallel parts, or in one streamed GET where
    ranges are costly (or the object is small). From a bucket whose ranges are known to
    be costly, all of it comes in one GET. A body cut short is asked for again, up
    to ATTEMPTS times. `written` hears of each range of the file once it is there. The
    caller maps botocore's errors (an empty object has no range: InvalidRange)."""
    sink = _Sink(progress.current(), written)
    started = time.perf_counter()
    whole = ranged.known(bucket) is False  # ranges are costly here: one GET of it all
    first = _get(client, bucket, key, if_match, 0, None if whole else part - 1)
    answered = time.perf_counter() - started  # the headers are in: the time to answer
    if "ContentRange" not in first:  # asked whole, or a server that ignores ranges
        with destination.open("wb") as out:
            _write_body(first, out.fileno(), 0, first["ContentLength"], sink)
        return int(first["ContentLength"])
    size = int(first["ContentRange"].rsplit("/", 1)[1])
    version = first["ETag"]
    with destination.open("wb") as out:
        fd = out.fileno()
        _write_body(first, fd, 0, min(part, size), sink)
        if size <= part:
            return size
        out.truncate(size)
        fetch = _Fetch(client, bucket, key, version, fd, sink)
        cheap = ranged.known(bucket)
        if cheap is None and size > PARALLEL_PARTS * part:
            cheap = _answered_quickly(answered, size)
            ranged.learn(bucket, cheap)
        if cheap and size > PARALLEL_PARTS * part:
            _in_parallel(fetch.part(size, part), range(part, size, part))
        elif cheap is False:
            fetch(part, size - 1, ranged=False)
        else:
            fetch(part, size - 1)
    return size


class _Sink:
    """Who hears of bytes written: the progress display, and the caller's `written`."""

    def __init__(
        self,
        watcher: Callable[[int], None] | None,
        written: Callable[[int, int], None] | None,
    ) -> None:
        self.watcher, self.written = watcher, written

    def __call__(self, start: int, end: int) -> None:
        if self.watcher is not None:
            self.watcher(end - start)
        else:
            progress.advance(end - start)
        if self.written is not None:
            self.written(start, end)


class _Fetch:
    """GETs of byte ranges of one version of an object, written where they belong."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        key: str,
        version: str,
        fd: int,
        sink: _Sink,
    ) -> None:
        self.client, self.bucket, self.key, self.version = client, bucket, key, version
        self.fd, self.sink = fd, sink

    def __call__(self, start: int, end: int, *, ranged: bool = True) -> None:
        """Bytes `start` to `end` (the object's last byte when not `ranged`: asked for
        whole, the bytes before `start` read past)."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                asked = (start, end) if ranged else (0, None)
                found = _get(self.client, self.bucket, self.key, self.version, *asked)
                if not ranged:
                    _read_past(found["Body"], start)
                _write_body(found, self.fd, start, end - start + 1, self.sink)
                return
            except (ConnectionError, ResponseStreamingError, ShortBody):
                if attempt == ATTEMPTS:
                    raise _ended_early(self.bucket, self.key) from None

    def part(self, size: int, part: int) -> Callable[[int], None]:
        """The fetch of the part starting at a given offset."""
        return lambda start: self(start, min(start + part, size) - 1)


def ranges_cheap(
    client: S3Client, ranged: RangedGets, bucket: str, key: str, size: int, version: str
) -> bool:
    """Whether the bucket serves ranged GETs cheaply: known, or measured now by the
    answer to a one-byte range of this object, `size` bytes large. A server that
    answers a range with the whole object serves no ranges at all."""
    cheap = ranged.known(bucket)
    if cheap is None:
        started = time.perf_counter()
        found = _get(client, bucket, key, version, 0, 0)
        answered = time.perf_counter() - started
        found["Body"].close()
        cheap = "ContentRange" in found and _answered_quickly(answered, size)
        ranged.learn(bucket, cheap)
    return cheap


class ObjectRanges:
    """Byte ranges of one version of an object, read where it is (ByteRanges): each a
    GET with the version's If-Match, asked again when its body is cut short."""

    def __init__(self, client: S3Client, bucket: str, key: str, version: str, size: int) -> None:
        self.client, self.bucket, self.key, self.version = client, bucket, key, version
        self.size = size

    def read_into(self, offset: int, into: memoryview) -> None:
        end = offset + len(into) - 1
        for attempt in range(1, ATTEMPTS + 1):
            with mapped(self.bucket, self.key):
                try:
                    found = _get(self.client, self.bucket, self.key, self.version, offset, end)
                    if not found.get("ContentRange", "").startswith(f"bytes {offset}-{end}/"):
                        raise StorageError(
                            f"s3://{self.bucket}/{self.key}: the store answered a range "
                            "with other bytes", bucket=self.bucket, key=self.key,
                            operation="GetObject",
                        )  # fmt: skip
                    _read_body_into(found["Body"], into)
                    return
                except (ConnectionError, ResponseStreamingError, ShortBody):
                    if attempt == ATTEMPTS:
                        raise _ended_early(self.bucket, self.key) from None


def _answered_quickly(answered: float, size: int) -> bool:
    """Whether a range of an object `size` bytes large was answered faster than a read
    of all of it would take (SCAN_RATE), or in about a round trip."""
    return answered < max(SLOW_ANSWER, size / SCAN_RATE)


def _ended_early(bucket: str, key: str) -> StorageError:
    return StorageError(
        f"s3://{bucket}/{key}: the body ended early, {ATTEMPTS} times",
        bucket=bucket, key=key, operation="GetObject",
    )  # fmt: skip


def upload_in_parts(
    client: S3Client,
    bucket: str,
    key: str,
    source: Path | bytes,
    metadata: Mapping[str, str],
    *,
    size: int,
    part_size: int,
    create_only: bool,
    before_complete: Callable[[], None] | None = None,
) -> str:
    """A multipart upload of the file (or bytes), its parts sent side by side; with
    `create_only` the completion carries If-None-Match: * (S3 refuses it when the key
    exists). `before_complete` may stop it once every part is sent (a source that
    changed meanwhile). Any failure aborts the upload. Returns the completion's ETag
    ("" when the store sends none, as Ceph RGW does).

    Each part carries its CRC32, which the completion lists, as `aws s3 cp` sends them:
    S3 checks the parts and keeps a composite checksum of them, instead of making one of
    the whole object (moto computes that in Python: 3 s of its time for 1 GB)."""
    started = client.create_multipart_upload(
        Bucket=bucket, Key=key, Metadata=dict(metadata), ChecksumAlgorithm=PART_CHECKSUM
    )
    upload_id = started["UploadId"]
    watcher = progress.current()
    try:
        with _reads_of(source) as read:

            def send(number: int) -> dict[str, Any]:
                offset = (number - 1) * part_size
                body = read(offset, min(part_size, size - offset))
                done = client.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body,
                    ChecksumAlgorithm=PART_CHECKSUM,
                )  # fmt: skip
                if watcher is not None:
                    watcher(len(body))
                sent = {"PartNumber": number, "ETag": done["ETag"]}
                if "ChecksumCRC32" in done:  # a store that keeps checksums (not Ceph 16)
                    sent["ChecksumCRC32"] = done["ChecksumCRC32"]
                return sent

            parts = _in_parallel(send, range(1, max(1, -(-size // part_size)) + 1))
        if before_complete is not None:
            before_complete()
        extra = {"IfNoneMatch": "*"} if create_only else {}
        finished = client.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            **extra,  # type: ignore[arg-type]
        )
    except BaseException:
        with suppress(ClientError, BotoCoreError):  # the first error is the one to see
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return finished.get("ETag") or ""


@contextmanager
def _reads_of(source: Path | bytes) -> Iterator[Callable[[int, int], bytes]]:
    """`read(offset, length)` of the file or bytes, safe from several threads at once."""
    if isinstance(source, bytes):
        view = memoryview(source)
        yield lambda offset, length: bytes(view[offset : offset + length])
        return
    with source.open("rb") as stream:
        fd = stream.fileno()
        yield lambda offset, length: os.pread(fd, length, offset)


class ShortBody(Exception):
    """A part's body ended before its last byte."""


def _get(
    client: S3Client, bucket: str, key: str, if_match: str | None, start: int, end: int | None
) -> Any:
    """GET bytes `start` to `end`; the whole object when `end` is None."""
    arguments: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if end is not None:
        arguments["Range"] = f"bytes={start}-{end}"
    if if_match is not None:
        arguments["IfMatch"] = if_match
    return client.get_object(**arguments)


def _read_past(body: Any, count: int) -> None:
    """Read `count` bytes of a GET's body and drop them; ShortBody when it ends first."""
    while count > 0:
        chunk = body.read(min(READ, count))
        if not chunk:
            raise ShortBody
        count -= len(chunk)


def _read_body_into(body: Any, into: memoryview) -> None:
    """Fill `into` from a GET's body; ShortBody when it ends first."""
    at = 0
    while at < len(into):
        chunk = body.read(min(READ, len(into) - at))
        if not chunk:
            raise ShortBody
        into[at : at + len(chunk)] = chunk
        at += len(chunk)


def _write_body(found: Any, fd: int, offset: int, expected: int, sink: _Sink) -> None:
    """Write a GET's body at `offset` of the file; ShortBody when it ends early."""
    written = 0
    body = found["Body"]
    while chunk := body.read(READ):
        os.pwrite(fd, chunk, offset + written)
        sink(offset + written, offset + written + len(chunk))
        written += len(chunk)
    if written != expected:
        raise ShortBody


def _in_parallel(work: Callable[[int], _T], numbers: range) -> list[_T]:
    """`work` over the numbers on WORKERS threads, results in order; the first error
    stops what has not started and is raised."""
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(contextvars.copy_context().run, work, n) for n in numbers]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise
