"""Conditional requests, decided as S3 decides them (RFC 7232 with S3's precedence):
GET/HEAD's If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since; CopyObject's
x-amz-copy-source-if-*; a conditional PUT's If-None-Match: * and If-Match.

Times compare to the second, as Last-Modified is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from deltaglider.app.gateway.errors import no_such_key, precondition_failed
from deltaglider.app.gateway.http import parse_http_date
from deltaglider.core.models import LogicalObject


class NotModified(Exception):
    """A GET or HEAD whose If-None-Match or If-Modified-Since says the client has it."""


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-Match/If-None-Match list names this ETag (or is `*`)."""
    wanted = etag.strip('"')
    for listed in header.split(","):
        candidate = listed.strip()
        if candidate == "*" or candidate.removeprefix("W/").strip('"') == wanted:
            return True
    return False


def _modified_since(header: str | None, last_modified: datetime) -> bool | None:
    """Whether the object changed after the header's time; None without a valid one."""
    moment = parse_http_date(header) if header else None
    if moment is None:
        return None
    return last_modified.replace(microsecond=0) > moment


def check_read(headers: Mapping[str, str], info: LogicalObject, prefix: str = "") -> None:
    """GET and HEAD (prefix ""): PreconditionFailed, or NotModified. CopyObject's source
    (prefix "x-amz-copy-source-"): every failure is PreconditionFailed, as S3 answers."""
    if_match = headers.get(prefix + "if-match")
    if_none_match = headers.get(prefix + "if-none-match")
    if if_match is not None:
        if not etag_matches(if_match, info.etag):
            raise precondition_failed("If-Match")
    elif _modified_since(headers.get(prefix + "if-unmodified-since"), info.last_modified):
        raise precondition_failed("If-Unmodified-Since")
    if if_none_match is not None:
        if etag_matches(if_none_match, info.etag):
            if prefix:
                raise precondition_failed("If-None-Match")
            raise NotModified
    elif _modified_since(headers.get(prefix + "if-modified-since"), info.last_modified) is False:
        if prefix:
            raise precondition_failed("If-Modified-Since")
        raise NotModified


def check_write(
    headers: Mapping[str, str], current: LogicalObject | None, bucket: str, key: str
) -> None:
    """A conditional PUT: If-None-Match (`*` or ETags) wants no object it names there;
    If-Match wants one it names (NoSuchKey when there is none, as S3 answers)."""
    if_none_match = headers.get("if-none-match")
    if_match = headers.get("if-match")
    if if_none_match and current is not None and etag_matches(if_none_match, current.etag):
        raise precondition_failed("If-None-Match")
    if if_match is not None:
        if current is None:
            raise no_such_key(bucket, key)
        if not etag_matches(if_match, current.etag):
            raise precondition_failed("If-Match")
