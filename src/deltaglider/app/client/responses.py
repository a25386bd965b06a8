"""Answers in botocore's shapes: the parsed response boto3 returns (its keys and types),
with the ResponseMetadata and HTTP response botocore would have made of S3's answer.

Times are timezone-aware datetimes: whole seconds where S3 sends an HTTP date (GET,
HEAD), milliseconds where it sends XML (listings, copies). An object's body is
botocore's own StreamingBody over the checked logical object.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import IO, Any, cast

from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from deltaglider.app.client.failures import S3Failure
from deltaglider.core.models import LogicalObject
from deltaglider.core.reader import ObjectStream

Parsed = dict[str, Any]
# The fields botocore parses the kept headers into (Expires: below).
_KEPT_FIELDS = {
    "cache-control": "CacheControl",
    "content-disposition": "ContentDisposition",
    "content-encoding": "ContentEncoding",
    "content-language": "ContentLanguage",
}
Answer = tuple[AWSResponse, Parsed]
DEFAULT_CONTENT_TYPE = "binary/octet-stream"  # what S3 answers for an object stored without one


def answer(status: int, parsed: Parsed, headers: Mapping[str, str] | None = None) -> Answer:
    """A successful answer, with its ResponseMetadata."""
    request_id, host_id = _request_ids()
    sent = _base_headers(request_id, host_id) | dict(headers or {})
    parsed["ResponseMetadata"] = _metadata(status, sent, request_id, host_id)
    return http_response(status, sent), parsed


def failure(failed: S3Failure, *, bodiless: bool = False) -> Answer:
    """An error answer; botocore raises it as the ClientError its factory has for the
    code. A bodiless one (to a HEAD, or a 304) carries no request id, as botocore then
    finds none to parse."""
    request_id, host_id = _request_ids()
    sent = _base_headers(request_id, host_id)
    if not bodiless:
        sent["content-type"] = "application/xml"
    ids = ("", "") if bodiless else (request_id, host_id)
    parsed: Parsed = {"Error": failed.fields(bodiless=bodiless)}
    parsed["ResponseMetadata"] = _metadata(failed.status, sent, *ids)
    return http_response(failed.status, sent), parsed


def object_fields(info: LogicalObject) -> tuple[Parsed, dict[str, str]]:
    """What GET and HEAD say of an object, and the headers that said it."""
    modified = http_time(info.last_modified)
    content_type = info.content_type or DEFAULT_CONTENT_TYPE
    metadata = dict(info.user_metadata or {})
    fields: Parsed = {
        "AcceptRanges": "bytes",
        "LastModified": modified,
        "ContentLength": info.size,
        "ETag": info.etag,
        "ContentType": content_type,
        "Metadata": metadata,
    }
    headers = {
        "accept-ranges": "bytes",
        "last-modified": format_datetime(modified, usegmt=True),
        "content-length": str(info.size),
        "etag": info.etag,
        "content-type": content_type,
    } | {f"x-amz-meta-{k}": v for k, v in metadata.items()}
    for header, value in (info.headers or {}).items():
        headers[header] = value
        if header in _KEPT_FIELDS:
            fields[_KEPT_FIELDS[header]] = value
        elif header == "expires":  # botocore: the date when it reads as one, and the text
            fields["ExpiresString"] = value
            with contextlib.suppress(TypeError, ValueError):
                fields["Expires"] = parsedate_to_datetime(value)
    return fields, headers


def http_time(moment: datetime) -> datetime:
    """A time as an HTTP date carries it: UTC, whole seconds."""
    return moment.astimezone(UTC).replace(microsecond=0)


def xml_time(moment: datetime) -> datetime:
    """A time as S3's XML carries it: UTC, milliseconds."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def body(stream: ObjectStream, release: Callable[[], None]) -> StreamingBody:
    """botocore's StreamingBody over a checked object; `release` frees what holds it
    (its scratch copy), when the body is read to its end, closed, or collected."""
    raw = cast(IO[bytes], _RawBody(stream, release))
    return StreamingBody(raw, stream.content_length)


class _RawBody:
    """The raw stream under a StreamingBody (what urllib3's response is for boto3)."""

    def __init__(self, stream: ObjectStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._left = stream.content_length
        self._release = release
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        if self.closed:
            return b""
        data = self._stream.read(-1 if amt is None else amt)
        self._left -= len(data)
        if self._left <= 0:
            self.close()
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def stream(self, amt: int = 2**16) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk

    def readlines(self) -> list[bytes]:
        return self.read().splitlines(keepends=True)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._release()

    def __del__(self) -> None:
        self.close()


def http_response(status: int, headers: Mapping[str, str]) -> AWSResponse:
    """The HTTP response botocore hands its handlers (it has no body to read again)."""
    return AWSResponse("", status, cast(Any, dict(headers)), None)


def _request_ids() -> tuple[str, str]:
    """A request id and host id shaped as S3's."""
    return secrets.token_hex(8).upper(), base64.b64encode(secrets.token_bytes(56)).decode()


def _base_headers(request_id: str, host_id: str) -> dict[str, str]:
    return {
        "x-amz-request-id": request_id,
        "x-amz-id-2": host_id,
        "date": format_datetime(datetime.now(UTC).replace(microsecond=0), usegmt=True),
        "server": "DeltaGlider",
    }


def _metadata(status: int, headers: dict[str, str], request_id: str, host_id: str) -> Parsed:
    return {
        "RequestId": request_id,
        "HostId": host_id,
        "HTTPStatusCode": status,
        "HTTPHeaders": headers,
        "RetryAttempts": 0,
    }
