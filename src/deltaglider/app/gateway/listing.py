"""ListObjects (V1), ListObjectsV2 and ListObjectVersions over the logical view.

With no delimiter or `/`, a page is read from the service's paged logical view
(DeltaService.list_page), which asks the store for no more than the page needs, folders
rolled up by the store itself. Any other delimiter is rolled up here over a recursive
listing (keys under a prefix already shown are read and skipped). Every object is
version `null`: the store keeps no versions.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import quote

from deltaglider.app.gateway.context import Context
from deltaglider.app.gateway.errors import invalid_argument, no_such_bucket
from deltaglider.app.gateway.http import Response
from deltaglider.app.gateway.xml import Node, render, timestamp
from deltaglider.core.models import LogicalObject
from deltaglider.core.service import DeltaService
from deltaglider.ports import CommonPrefix

MAX_KEYS = 1000


@dataclass(frozen=True)
class Page:
    objects: list[LogicalObject]
    prefixes: list[str]
    next_marker: str | None  # the last key or prefix shown, when more follow

    @property
    def truncated(self) -> bool:
        return self.next_marker is not None


def page(
    service: DeltaService, bucket: str, prefix: str, delimiter: str, after: str, max_keys: int
) -> Page:
    """Up to `max_keys` objects and common prefixes after `after`, in key order."""
    if delimiter not in ("", "/"):
        return _rolled_up(service, bucket, prefix, delimiter, after, max_keys)
    if max_keys == 0:
        _require(service, bucket)
        return Page([], [], None)
    listed = service.list_page(bucket, prefix, recursive=not delimiter, start_after=after,
                               max_keys=max_keys)  # fmt: skip
    objects = [e for e in listed.entries if isinstance(e, LogicalObject)]
    prefixes = [e.prefix for e in listed.entries if isinstance(e, CommonPrefix)]
    return Page(objects, prefixes, listed.next_start_after)


def _rolled_up(
    service: DeltaService, bucket: str, prefix: str, delimiter: str, after: str, max_keys: int
) -> Page:
    objects: list[LogicalObject] = []
    prefixes: list[str] = []
    shown = 0
    last: str | None = None
    skipped = after if _is_rolled_prefix(after, prefix, delimiter) else None
    for entry in service.list(bucket, prefix, recursive=True, start_after=after):
        assert isinstance(entry, LogicalObject)  # a recursive listing has no prefixes
        rest = entry.key[len(prefix) :]
        cut = rest.find(delimiter)
        rolled = prefix + rest[: cut + len(delimiter)] if cut >= 0 else None
        if rolled is not None and rolled in (skipped, last):
            continue
        if shown == max_keys:
            return Page(objects, prefixes, last or after)
        if rolled is not None:
            prefixes.append(rolled)
            last = rolled
        else:
            objects.append(entry)
            last = entry.key
        shown += 1
    if max_keys == 0:
        _require(service, bucket)
    return Page(objects, prefixes, None)


def _is_rolled_prefix(marker: str, prefix: str, delimiter: str) -> bool:
    return (
        marker.startswith(prefix)
        and marker.endswith(delimiter)
        and (delimiter in marker[len(prefix) :])
    )


def _require(service: DeltaService, bucket: str) -> None:
    """An empty page still needs its bucket (the store was not asked anything else)."""
    if not service.buckets.bucket_exists(bucket):
        raise no_such_bucket(bucket)


# ---------------------------------------------------------------------- the three forms


def list_objects(ctx: Context) -> Response:
    """ListObjects (V1): marker, NextMarker (with a delimiter), owners always shown; the
    request's Prefix is echoed as it came, never URL-encoded (S3 encodes it in V2 only)."""
    q = ctx.request.query
    prefix, delimiter, marker = q.get("prefix", ""), q.get("delimiter", ""), q.get("marker", "")
    encode = _encoder(ctx)
    max_keys = ctx.query_int("max-keys", MAX_KEYS, 0, MAX_KEYS)
    found = page(ctx.service, ctx.bucket, prefix, delimiter, marker, max_keys)
    fields: list[Node] = [
        ("Name", ctx.bucket), ("Prefix", prefix), ("Marker", encode(marker)),
        ("MaxKeys", max_keys), ("Delimiter", encode(delimiter) if delimiter else None),
        ("IsTruncated", found.truncated),
        ("NextMarker", encode(found.next_marker) if delimiter and found.next_marker else None),
        ("EncodingType", q.get("encoding-type")),
    ]  # fmt: skip
    fields += _contents(ctx, found, encode, owner=True)
    return Response.xml(render("ListBucketResult", fields))


def list_objects_v2(ctx: Context) -> Response:
    """ListObjectsV2: continuation tokens (opaque: the last key shown), start-after,
    fetch-owner, KeyCount."""
    q = ctx.request.query
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    encode = _encoder(ctx)
    max_keys = ctx.query_int("max-keys", MAX_KEYS, 0, MAX_KEYS)
    token = q.get("continuation-token")
    after = _decoded_token(token) if token is not None else q.get("start-after", "")
    found = page(ctx.service, ctx.bucket, prefix, delimiter, after, max_keys)
    fields: list[Node] = [
        ("Name", ctx.bucket), ("Prefix", encode(prefix)), ("MaxKeys", max_keys),
        ("KeyCount", len(found.objects) + len(found.prefixes)),
        ("Delimiter", encode(delimiter) if delimiter else None),
        ("IsTruncated", found.truncated),
        ("ContinuationToken", token),
        ("NextContinuationToken", _token(found.next_marker) if found.next_marker else None),
        ("StartAfter", encode(q["start-after"]) if "start-after" in q else None),
        ("EncodingType", q.get("encoding-type")),
    ]  # fmt: skip
    owner = q.get("fetch-owner", "").lower() == "true"
    fields += _contents(ctx, found, encode, owner=owner)
    return Response.xml(render("ListBucketResult", fields))


def list_object_versions(ctx: Context) -> Response:
    """ListObjectVersions: each object once, as its only version, `null`."""
    q = ctx.request.query
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    marker = q.get("key-marker", "")
    encode = _encoder(ctx)
    max_keys = ctx.query_int("max-keys", MAX_KEYS, 0, MAX_KEYS)
    found = page(ctx.service, ctx.bucket, prefix, delimiter, marker, max_keys)
    fields: list[Node] = [
        ("Name", ctx.bucket), ("Prefix", encode(prefix)), ("KeyMarker", encode(marker)),
        ("VersionIdMarker", q.get("version-id-marker", "")), ("MaxKeys", max_keys),
        ("Delimiter", encode(delimiter) if delimiter else None),
        ("IsTruncated", found.truncated),
        ("NextKeyMarker", encode(found.next_marker) if found.next_marker else None),
        ("NextVersionIdMarker", "null" if found.next_marker else None),
        ("EncodingType", q.get("encoding-type")),
    ]  # fmt: skip
    fields += [("Version", [
        ("Key", encode(o.key)), ("VersionId", "null"), ("IsLatest", True),
        ("LastModified", timestamp(o.last_modified)), ("ETag", o.etag), ("Size", o.size),
        ("StorageClass", "STANDARD"), ("Owner", ctx.owner_xml()),
    ]) for o in found.objects]  # fmt: skip
    fields += [("CommonPrefixes", [("Prefix", encode(p))]) for p in found.prefixes]
    return Response.xml(render("ListVersionsResult", fields))


def _contents(ctx: Context, found: Page, encode: _Encode, *, owner: bool) -> list[Node]:
    entries: list[Node] = []
    for o in found.objects:
        fields: list[Node] = [
            ("Key", encode(o.key)), ("LastModified", timestamp(o.last_modified)),
            ("ETag", o.etag), ("Size", o.size), ("StorageClass", "STANDARD"),
        ]  # fmt: skip
        if owner:
            fields.append(("Owner", ctx.owner_xml()))
        entries.append(("Contents", fields))
    entries += [("CommonPrefixes", [("Prefix", encode(p))]) for p in found.prefixes]
    return entries


class _Encode:
    def __init__(self, url: bool) -> None:
        self.url = url

    def __call__(self, value: str) -> str:
        return quote(value, safe="/") if self.url else value


def _encoder(ctx: Context) -> _Encode:
    kind = ctx.request.query.get("encoding-type")
    if kind is not None and kind != "url":
        raise invalid_argument("Invalid Encoding Method specified in Request",
                               "encoding-type", kind)  # fmt: skip
    return _Encode(kind == "url")


def _token(after: str) -> str:
    return base64.urlsafe_b64encode(after.encode("utf-8", "surrogatepass")).decode()


def _decoded_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode("utf-8", "surrogatepass")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_argument("The continuation token provided is incorrect",
                               "continuation-token", token) from None  # fmt: skip
