"""ListObjectsV2 and ListObjects over the logical view: original keys, sizes and ETags,
internal objects never shown, in S3's order, paged as S3 pages.

A page holds at most MaxKeys entries (1,000 at most), objects and common prefixes
together. The continuation token is the logical key (or prefix) the page ended at; the
next page starts after it. Delimiter `/` is the store's own; any other is rolled up
here from the recursive listing. With EncodingType=url, keys, prefixes, delimiter,
markers and StartAfter are percent-encoded, as S3 sends them (botocore sets it on every
listing and decodes them again unless the caller asked for it); ListObjects' own Prefix
is sent as it is, as S3 stores do (botocore would not decode it).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from urllib.parse import quote

from deltaglider.app.client.backend import Backend
from deltaglider.app.client.failures import invalid_argument
from deltaglider.app.client.request import Call
from deltaglider.app.client.responses import Answer, Parsed, answer, xml_time
from deltaglider.core.models import LogicalObject
from deltaglider.ports import CommonPrefix

PAGE_LIMIT = 1000  # S3's most keys in one listing
_TOKEN_MARK = "dg1:"

Entry = LogicalObject | CommonPrefix


def list_objects_v2(backend: Backend, call: Call) -> Answer:
    call.accept(
        "Bucket",
        "Prefix",
        "Delimiter",
        "MaxKeys",
        "ContinuationToken",
        "StartAfter",
        "EncodingType",
        "FetchOwner",
    )
    token = call.text("ContinuationToken")
    start_after = call.text("StartAfter")
    start = decode_token(token) if token is not None else start_after or ""
    listed = _Listed.of(backend, call, start)
    parsed = listed.common(call)
    parsed["KeyCount"] = len(listed.entries)
    if token is not None:
        parsed["ContinuationToken"] = token
    if listed.next_start is not None:
        parsed["NextContinuationToken"] = encode_token(listed.next_start)
    if start_after is not None:
        parsed["StartAfter"] = listed.encode(start_after)
    if listed.objects:
        owner = backend.owner() if call.params.get("FetchOwner") else None
        parsed["Contents"] = [listed.content(entry, owner) for entry in listed.objects]
    return answer(200, parsed, {"content-type": "application/xml"})


def list_objects(backend: Backend, call: Call) -> Answer:
    call.accept("Bucket", "Prefix", "Delimiter", "MaxKeys", "Marker", "EncodingType")
    marker = call.text("Marker")
    listed = _Listed.of(backend, call, marker or "")
    parsed = listed.common(call)
    if marker is not None:
        parsed["Marker"] = listed.encode(marker)
    if listed.next_start is not None and call.text("Delimiter"):
        parsed["NextMarker"] = listed.encode(listed.next_start)  # without one: the last key
    if listed.objects:
        owner = backend.owner()
        parsed["Contents"] = [listed.content(entry, owner) for entry in listed.objects]
    return answer(200, parsed, {"content-type": "application/xml"})


class _Listed:
    """One page of the logical view and how to write it out."""

    def __init__(
        self, entries: list[Entry], next_start: str | None, encode: Callable[[str], str]
    ) -> None:
        self.entries = entries
        self.next_start = next_start
        self.encode = encode

    @classmethod
    def of(cls, backend: Backend, call: Call, start: str) -> _Listed:
        max_keys = _max_keys(call)
        prefix = call.text("Prefix") or ""
        delimiter = call.text("Delimiter") or None
        encoding = call.text("EncodingType")
        encode = _url_encoded if encoding == "url" else _as_is
        if max_keys == 0:
            return cls([], None, encode)
        size = min(max_keys, PAGE_LIMIT)
        if delimiter in (None, "/"):
            page = backend.service.list_page(
                call.bucket, prefix, recursive=delimiter is None, start_after=start, max_keys=size
            )
            return cls(list(page.entries), page.next_start_after, encode)
        everything = backend.service.list(call.bucket, prefix, recursive=True, start_after=start)
        entries, next_start = _rolled_up(everything, prefix, delimiter, start, size)
        return cls(entries, next_start, encode)

    @property
    def objects(self) -> list[LogicalObject]:
        return [e for e in self.entries if isinstance(e, LogicalObject)]

    def common(self, call: Call) -> Parsed:
        """What both listings answer: the page's state and the request echoed. (ListObjects
        sends its Prefix as it is: botocore would not decode it, and S3 stores agree.)"""
        prefix = call.text("Prefix") or ""
        parsed: Parsed = {
            "IsTruncated": self.next_start is not None,
            "Name": call.bucket,
            "Prefix": self.encode(prefix) if call.operation == "ListObjectsV2" else prefix,
            "MaxKeys": _max_keys(call),
        }
        if call.text("Delimiter") is not None:
            parsed["Delimiter"] = self.encode(call.text("Delimiter") or "")
        if call.text("EncodingType") is not None:
            parsed["EncodingType"] = call.text("EncodingType")
        prefixes = [e.prefix for e in self.entries if isinstance(e, CommonPrefix)]
        if prefixes:
            parsed["CommonPrefixes"] = [{"Prefix": self.encode(p)} for p in prefixes]
        return parsed

    def content(self, entry: LogicalObject, owner: dict[str, str] | None) -> Parsed:
        item: Parsed = {
            "Key": self.encode(entry.key),
            "LastModified": xml_time(entry.last_modified),
            "ETag": entry.etag,
            "Size": entry.size,
            "StorageClass": "STANDARD",
        }
        if owner is not None:
            item["Owner"] = owner
        return item


def _rolled_up(
    listed: Iterable[Entry], prefix: str, delimiter: str, start: str, size: int
) -> tuple[list[Entry], str | None]:
    """A page of a recursive listing with keys that hold `delimiter` after `prefix`
    rolled up into common prefixes (each once, none at or before `start`)."""
    page: list[Entry] = []
    last = ""
    for entry in listed:
        key = entry.key if isinstance(entry, LogicalObject) else entry.prefix
        cut = key.find(delimiter, len(prefix))
        shown: Entry = entry
        if cut >= 0:
            rolled = key[: cut + len(delimiter)]
            if rolled <= start or rolled == last:
                continue
            shown = CommonPrefix(rolled)
        if len(page) == size:
            return page, last
        page.append(shown)
        last = shown.key if isinstance(shown, LogicalObject) else shown.prefix
    return page, None


def _max_keys(call: Call) -> int:
    value = call.params.get("MaxKeys")
    if value is None:
        return PAGE_LIMIT
    if int(value) < 0:
        raise invalid_argument(
            "Argument maxKeys must be an integer between 0 and 2147483647", "maxKeys", str(value)
        )
    return int(value)


def encode_token(start_after: str) -> str:
    return base64.urlsafe_b64encode((_TOKEN_MARK + start_after).encode()).decode()


def decode_token(token: str) -> str:
    """The key a continuation token continues after (S3's InvalidArgument for one this
    client did not give)."""
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, ValueError):
        text = ""
    if not text.startswith(_TOKEN_MARK):
        raise invalid_argument(
            "The continuation token provided is incorrect", "continuation-token", token
        )
    return text[len(_TOKEN_MARK) :]


def _url_encoded(value: str) -> str:
    return quote(value, safe="/")


def _as_is(value: str) -> str:
    return value
