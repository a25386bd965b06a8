"""CopyObject: the source named by x-amz-copy-source (URL-encoded `bucket/key`, maybe
`?versionId=null`), its metadata copied or replaced (x-amz-metadata-directive), only if
the x-amz-copy-source-if-* conditions hold. Objects stored whole are copied inside the
store; others are rebuilt, checked and stored anew (DeltaService.copy).
"""

from __future__ import annotations

from urllib.parse import unquote

from deltaglider.app.gateway.conditions import check_read
from deltaglider.app.gateway.context import Context
from deltaglider.app.gateway.errors import invalid_argument, invalid_request
from deltaglider.app.gateway.headers import described, refuse_unsupported
from deltaglider.app.gateway.http import Response
from deltaglider.app.gateway.objects import check_key, found
from deltaglider.app.gateway.xml import render, timestamp
from deltaglider.core.models import ObjectKey


def copy_source(header: str) -> ObjectKey:
    """The object an x-amz-copy-source header names."""
    path, _, query = header.partition("?")
    if query and query != "versionId=null":
        raise invalid_argument("Invalid version id specified", "x-amz-copy-source", header)
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    if not bucket or not key:
        raise invalid_argument("Copy Source must mention the source bucket and key: "
                               "sourcebucket/sourcekey", "x-amz-copy-source", header)  # fmt: skip
    return ObjectKey(bucket, key)


def copy_object(ctx: Context) -> Response:
    headers = ctx.request.headers
    refuse_unsupported(headers)
    check_key(ctx.bucket, ctx.key)
    source = copy_source(headers["x-amz-copy-source"])
    directive = headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise invalid_argument("Unknown metadata directive.", "x-amz-metadata-directive",
                               directive)  # fmt: skip
    info = found(ctx, source)
    check_read(headers, info, prefix="x-amz-copy-source-")
    if source == ctx.object_key and directive == "COPY":
        raise invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect "
            "location or encryption attributes."
        )
    ctx.require_bucket()
    replace = described(headers).attributes() if directive == "REPLACE" else None
    with ctx.heavy_for(info.size):
        result = ctx.service.copy(source, ctx.object_key, replace=replace)
    ctx.request.stored = (result.file_size, result.stored_size)
    copied = ctx.service.head(ctx.object_key)
    document = render("CopyObjectResult", [
        ("LastModified", timestamp(copied.last_modified)), ("ETag", result.etag),
    ])  # fmt: skip
    return Response.xml(document)
