"""S3's conditional reads (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since)
and byte ranges, decided on the logical object's ETag, time and size.

The order is HTTP's (RFC 9110, 13.2.2) as S3 applies it: If-Match, else
If-Unmodified-Since (412 when it fails); then If-None-Match, else If-Modified-Since
(304 for a read). Times compare in whole seconds, as HTTP dates carry them. A copy's
conditions on its source fail with 412 whichever fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from deltaglider.app.client.failures import S3Failure, not_modified, precondition_failed
from deltaglider.app.client.request import Call
from deltaglider.core.models import ByteRange, LogicalObject

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True)
class Conditions:
    """The conditions of one request (`prefix` CopySource for a copy's source)."""

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: datetime | None = None
    if_unmodified_since: datetime | None = None
    prefix: str = ""

    @classmethod
    def of(cls, call: Call, prefix: str = "") -> Conditions:
        return cls(
            call.text(f"{prefix}IfMatch"),
            call.text(f"{prefix}IfNoneMatch"),
            call.time(f"{prefix}IfModifiedSince"),
            call.time(f"{prefix}IfUnmodifiedSince"),
            prefix,
        )

    @property
    def given(self) -> bool:
        return any(
            c is not None
            for c in (
                self.if_match,
                self.if_none_match,
                self.if_modified_since,
                self.if_unmodified_since,
            )
        )

    def check(self, info: LogicalObject) -> None:
        """Raise S3's answer when a condition does not hold for `info`."""
        modified = _seconds(info.last_modified)
        if self.if_match is not None:
            if not _matches(self.if_match, info.etag):
                raise self._failed("If-Match")
        elif self.if_unmodified_since is not None and modified > _seconds(self.if_unmodified_since):
            raise self._failed("If-Unmodified-Since")
        if self.if_none_match is not None:
            if _matches(self.if_none_match, info.etag):
                raise self._unchanged("If-None-Match")
        elif self.if_modified_since is not None and modified <= _seconds(self.if_modified_since):
            raise self._unchanged("If-Modified-Since")

    def _failed(self, condition: str) -> S3Failure:
        return precondition_failed(_header(self.prefix, condition))

    def _unchanged(self, condition: str) -> S3Failure:
        return self._failed(condition) if self.prefix else not_modified()


def parse_range(header: str | None) -> ByteRange | None:
    """The byte range of a Range header; None for none, or for one S3 does not honour
    (another unit, several ranges, last before first), which reads the whole object."""
    found = _RANGE.fullmatch(header.strip()) if header else None
    if found is None or found[1] == found[2] == "":
        return None
    if found[1] == "":
        return ByteRange(suffix=int(found[2]))
    first, last = int(found[1]), int(found[2]) if found[2] else None
    if last is not None and last < first:
        return None
    return ByteRange(first=first, last=last)


def content_range(start: int, stop: int, size: int) -> str:
    return f"bytes {start}-{stop - 1}/{size}"


def _matches(header: str, etag: str) -> bool:
    """The header names this ETag: S3 compares the one value sent (no `*`, no lists)."""
    return header.strip().strip('"') == etag.strip('"')


def _seconds(moment: datetime) -> int:
    if moment.tzinfo is None:  # botocore sends a naive time as UTC
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _header(prefix: str, condition: str) -> str:
    return f"x-amz-copy-source-{condition}" if prefix else condition
