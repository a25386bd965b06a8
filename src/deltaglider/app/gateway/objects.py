"""Object operations: PUT (conditional, Content-MD5 checked), GET and HEAD (ranges,
parts, conditions, response overrides), DELETE, and ACLs answered for a store without
them. Bodies stream both ways: a PUT is spooled to disk as it arrives (core/spool.py), a
GET is rebuilt and checked into a scratch file (core/reader.py) and streamed from it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from contextlib import ExitStack

from deltaglider.app.gateway import buckets
from deltaglider.app.gateway.conditions import NotModified, check_read, check_write
from deltaglider.app.gateway.context import Context
from deltaglider.app.gateway.errors import S3Error, invalid_request, no_such_bucket, no_such_key
from deltaglider.app.gateway.headers import (
    OVERRIDES,
    described,
    object_headers,
    refuse_unsupported,
    with_overrides,
)
from deltaglider.app.gateway.http import Response
from deltaglider.core.errors import BadDigest, ObjectNotFound
from deltaglider.core.limits import KEY_LIMIT, fits_key
from deltaglider.core.models import ByteRange, LogicalObject, ObjectKey

MAX_PARTS = 10_000
MAX_PUT = 5 * 1024**3  # S3's largest single PUT: larger objects come in parts


def put_object(ctx: Context) -> Response:
    request = ctx.request
    refuse_unsupported(request.headers)
    check_key(ctx.bucket, ctx.key)
    digest = content_md5(request.headers.get("content-md5"))
    ctx.require_bucket()
    conditional = "if-none-match" in request.headers or "if-match" in request.headers
    if conditional:
        check_write(request.headers, find(ctx, ctx.object_key), ctx.bucket, ctx.key)
    attributes = described(request.headers)
    payload = ctx.payload()
    if payload.size is not None and payload.size > MAX_PUT:
        raise S3Error("EntityTooLarge", 400,
                      "Your proposed upload exceeds the maximum allowed size")  # fmt: skip
    with ctx.service.spool(payload.chunks(), size=payload.size) as spooled:
        payload.check(spooled.sha256)
        if digest is not None and digest != spooled.md5:
            raise BadDigest(digest, spooled.md5)
        if conditional:  # again, now that the body is in: the window is the store's write
            check_write(request.headers, find(ctx, ctx.object_key), ctx.bucket, ctx.key)
        with ctx.heavy_for(spooled.size):
            result = ctx.service.store(
                ctx.object_key,
                spooled,
                content_type=attributes.content_type,
                user_metadata=attributes.user_metadata,
                headers=attributes.kept,
            )
    request.stored = (result.file_size, result.stored_size)
    return Response.empty(headers=[("ETag", result.etag)])


def get_object(ctx: Context) -> Response:
    return _read(ctx, body=True)


def head_object(ctx: Context) -> Response:
    return _read(ctx, body=False)


def _read(ctx: Context, *, body: bool) -> Response:
    """GET or HEAD: conditions decided on a HEAD of the object (cheap when they fail),
    then again on the version actually read, which is the one described."""
    request = ctx.request
    if ctx.signed is None and any(k in request.query for k in OVERRIDES):
        raise invalid_request("Request specific response headers cannot be used for "
                              "anonymous GET requests.")  # fmt: skip
    info = found(ctx, ctx.object_key)
    try:
        check_read(request.headers, info)
    except NotModified:
        return _not_modified(info)
    wanted, parts = _wanted(ctx, info)
    if not body:
        start, stop = wanted.resolve(info.size) if wanted else (0, info.size)
        return _answer(ctx, info, start, stop, parts, wanted is not None, [])
    stack = ExitStack()
    try:
        with ctx.heavy_for(info.size):  # the rebuild; the stream out is only a file read
            stream = stack.enter_context(ctx.service.open(ctx.object_key, byte_range=wanted))
        try:
            check_read(request.headers, stream.info)
        except NotModified:
            stack.close()
            return _not_modified(stream.info)
    except BaseException:
        stack.close()
        raise
    response = _answer(ctx, stream.info, stream.start, stream.stop, parts, wanted is not None,
                       iter(stream))  # fmt: skip
    response.close = stack.close  # the scratch copy goes once the answer is sent or dropped
    return response


def _answer(
    ctx: Context, info: LogicalObject, start: int, stop: int, parts: int | None,
    partial: bool, body: Iterable[bytes],
) -> Response:  # fmt: skip
    headers = with_overrides(object_headers(info), ctx.request.query)
    headers.append(("Content-Length", str(stop - start)))
    if parts is not None:
        headers.append(("x-amz-mp-parts-count", str(parts)))
    if partial:
        headers.append(("Content-Range", f"bytes {start}-{stop - 1}/{info.size}"))
    return Response(206 if partial else 200, headers, body)


def _not_modified(info: LogicalObject) -> Response:
    return Response(304, [(k, v) for k, v in object_headers(info)
                          if k in ("ETag", "Last-Modified")])  # fmt: skip


def _wanted(ctx: Context, info: LogicalObject) -> tuple[ByteRange | None, int | None]:
    """The bytes asked for (a Range header, or a part by number), and the object's part
    count when a part was asked for (None otherwise)."""
    query, headers = ctx.request.query, ctx.request.headers
    if "partNumber" in query:
        if "range" in headers:
            raise invalid_request("Cannot specify both Range header and partNumber query "
                                  "parameter")  # fmt: skip
        number = ctx.query_int("partNumber", 1, 1, MAX_PARTS)
        sizes = info.part_sizes or (info.size,)
        if number > len(sizes):
            raise S3Error("InvalidPart", 400, "The requested partnumber is not satisfiable")
        if not info.part_sizes:
            return None, None
        first = sum(sizes[: number - 1])
        return ByteRange(first=first, last=first + sizes[number - 1] - 1), len(sizes)
    return parse_range(headers.get("range")), None


def parse_range(header: str | None) -> ByteRange | None:
    """One `bytes=` range; None (the whole object) for anything else, as S3 ignores a
    Range it cannot take (several ranges, other units, last before first)."""
    if header is None or not header.strip().startswith("bytes="):
        return None
    spec = header.strip()[len("bytes=") :].strip()
    if "," in spec or "-" not in spec:
        return None
    first, _, last = (part.strip() for part in spec.partition("-"))
    if not first:
        return ByteRange(suffix=int(last)) if last.isdigit() else None
    if not first.isdigit() or (last and not last.isdigit()):
        return None
    if last and int(last) < int(first):
        return None
    return ByteRange(first=int(first), last=int(last) if last else None)


def delete_object(ctx: Context) -> Response:
    ctx.service.delete(ctx.object_key)
    return Response.empty(204)


def get_acl(ctx: Context) -> Response:
    found(ctx, ctx.object_key)
    return buckets.acl(ctx)


def put_acl(ctx: Context) -> Response:
    found(ctx, ctx.object_key)
    return buckets.put_acl(ctx)


# ---------------------------------------------------------------------- shared


def find(ctx: Context, key: ObjectKey) -> LogicalObject | None:
    """The object, None when absent."""
    try:
        return ctx.service.head(key)
    except ObjectNotFound:
        return None


def found(ctx: Context, key: ObjectKey) -> LogicalObject:
    """The object; NoSuchKey, or NoSuchBucket when the bucket is missing too."""
    info = find(ctx, key)
    if info is None:
        if not ctx.service.buckets.bucket_exists(key.bucket):
            raise no_such_bucket(key.bucket)
        raise no_such_key(key.bucket, key.key)
    return info


def check_key(bucket: str, key: str) -> None:
    if not fits_key(key):
        raise S3Error("KeyTooLongError", 400, "Your key is too long", bucket=bucket,
                      extra={"MaxSizeAllowed": str(KEY_LIMIT)})  # fmt: skip


def content_md5(header: str | None) -> str | None:
    """The hex MD5 a Content-MD5 header gives; InvalidDigest when it is not one."""
    if header is None:
        return None
    try:
        raw = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise S3Error("InvalidDigest", 400, "The Content-MD5 you specified was invalid.")
    return raw.hex()
