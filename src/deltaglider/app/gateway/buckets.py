"""Bucket operations: list, create, delete, head, location, versioning, ACLs.

Every user sees every bucket: the gateway has one namespace, the backend's, and no
per-user ownership (docs/GATEWAY.md); the requester is named as the owner.
"""

from __future__ import annotations

import base64
import binascii
import re

from deltaglider.app.gateway.context import Context
from deltaglider.app.gateway.errors import S3Error, malformed_xml, not_implemented
from deltaglider.app.gateway.http import Response
from deltaglider.app.gateway.xml import Node, XMLError, parse, render, text, timestamp

XML_LIMIT = 64 * 1024  # bytes of a bucket configuration document
# An internal object (hidden from listings, removed with the bucket) that remembers the
# LocationConstraint a bucket was created with, as S3 answers it back.
LOCATION_KEY = ".dg-location"
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_LIKE = re.compile(r"\d+\.\d+\.\d+\.\d+")


def list_buckets(ctx: Context) -> Response:
    """ListBuckets, paged by max-buckets and continuation-token, as S3 pages it."""
    limit = ctx.query_int("max-buckets", 10000, 1, 10000)
    after = _token(ctx.request.query.get("continuation-token"))
    names = sorted(ctx.service.list_buckets(), key=lambda b: b.name)
    shown = [b for b in names if b.name > after]
    page, more = shown[:limit], len(shown) > limit
    buckets: list[Node] = [
        ("Bucket", [("Name", b.name), ("CreationDate", timestamp(b.created))]) for b in page
    ]
    fields: list[Node] = [("Owner", ctx.owner_xml()), ("Buckets", buckets)]
    if more:
        fields.append(("ContinuationToken", _encode(page[-1].name)))
    return Response.xml(render("ListAllMyBucketsResult", fields))


def create_bucket(ctx: Context) -> Response:
    bucket = ctx.bucket
    if not valid_bucket_name(bucket):
        raise S3Error("InvalidBucketName", 400, "The specified bucket is not valid.",
                      bucket=bucket)  # fmt: skip
    body = ctx.payload().read_all(XML_LIMIT)
    location = ""
    if body.strip():
        try:
            root = parse(body)
        except XMLError:
            raise malformed_xml() from None
        if root.tag != "CreateBucketConfiguration":
            raise malformed_xml()
        location = (text(root, "LocationConstraint") or "").strip()
    if _object_lock(ctx):
        raise not_implemented("x-amz-bucket-object-lock-enabled")
    ctx.service.make_bucket(bucket)  # one that exists: success, as in S3's us-east-1
    if location not in ("", "us-east-1"):
        ctx.service.storage.upload(bucket, LOCATION_KEY, b"", {"dg-location": location})
    return Response.empty(headers=[("Location", f"/{bucket}")])


def delete_bucket(ctx: Context) -> Response:
    ctx.service.remove_bucket(ctx.bucket)
    return Response.empty(204)


def head_bucket(ctx: Context) -> Response:
    ctx.require_bucket()
    return Response.empty(headers=[("x-amz-bucket-region", "us-east-1")])


def get_location(ctx: Context) -> Response:
    """The LocationConstraint the bucket was created with (none: us-east-1's empty one)."""
    ctx.require_bucket()
    recorded = ctx.service.storage.head(ctx.bucket, LOCATION_KEY)
    location = recorded.metadata.get("dg-location") if recorded else None
    return Response.xml(render("LocationConstraint", [], content=location or None))


def get_versioning(ctx: Context) -> Response:
    """Never versioned: S3 answers a bucket that never was with an empty configuration."""
    ctx.require_bucket()
    return Response.xml(render("VersioningConfiguration", []))


def acl(ctx: Context) -> Response:
    """GetBucketAcl and GetObjectAcl: the requester owns everything, with full control."""
    grantee: list[Node] = [*ctx.owner_xml(), ("Type", "CanonicalUser")]
    document = render("AccessControlPolicy", [
        ("Owner", ctx.owner_xml()),
        ("AccessControlList", [("Grant", [("Grantee", grantee),
                                          ("Permission", "FULL_CONTROL")])]),
    ])  # fmt: skip
    return Response.xml(document.replace(b"<Grantee>", _GRANTEE_OPEN))


_GRANTEE_OPEN = (
    b'<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">'
)


def put_acl(ctx: Context) -> Response:
    """PutBucketAcl and PutObjectAcl: accepted (canned or as a document) and ignored, as
    the store keeps no ACLs; the document must still be well-formed."""
    body = ctx.payload().read_all(XML_LIMIT)
    if body.strip():
        try:
            parse(body)
        except XMLError:
            raise malformed_xml() from None
    return Response.empty()


def valid_bucket_name(name: str) -> bool:
    """S3's rules for new buckets: 3-63 of a-z 0-9 . -, starting and ending with a letter
    or digit, no `..`, `.-` or `-.`, not shaped like an IP address."""
    return (
        _BUCKET_NAME.fullmatch(name) is not None
        and ".." not in name
        and ".-" not in name
        and "-." not in name
        and _IP_LIKE.fullmatch(name) is None
    )


def _object_lock(ctx: Context) -> bool:
    return ctx.request.headers.get("x-amz-bucket-object-lock-enabled", "").lower() == "true"


def _encode(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _token(raw: str | None) -> str:
    if not raw:
        return ""
    try:
        return base64.urlsafe_b64decode(raw.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise S3Error("InvalidArgument", 400, "The continuation token provided is incorrect",
                      extra={"ArgumentName": "continuation-token"}) from None  # fmt: skip
