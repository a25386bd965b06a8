"""DeleteObjects: up to 1,000 keys of one bucket in one request, each answered (or, in
quiet mode, only the failures), the deletes batched (DeltaService.delete_many)."""

from __future__ import annotations

import hashlib

from deltaglider.app.gateway.context import Context
from deltaglider.app.gateway.errors import S3Error, malformed_xml
from deltaglider.app.gateway.http import Response
from deltaglider.app.gateway.objects import content_md5
from deltaglider.app.gateway.xml import Node, XMLError, parse, render, text
from deltaglider.core.errors import BadDigest

MAX_KEYS = 1000
BODY_LIMIT = 8 * 1024 * 1024  # 1,000 keys of 1,024 bytes, escaped, with room


def delete_objects(ctx: Context) -> Response:
    digest = content_md5(ctx.request.headers.get("content-md5"))
    body = ctx.payload().read_all(BODY_LIMIT)
    if digest is not None and digest != hashlib.md5(body).hexdigest():
        raise BadDigest(digest, hashlib.md5(body).hexdigest())
    try:
        root = parse(body)
    except XMLError:
        raise malformed_xml() from None
    if root.tag != "Delete":
        raise malformed_xml()
    quiet = (text(root, "Quiet") or "").strip().lower() == "true"
    wanted: list[tuple[str, str | None]] = []
    for element in root.findall("Object"):
        key = text(element, "Key")
        if not key:
            raise malformed_xml()
        wanted.append((key, text(element, "VersionId")))
    if not wanted or len(wanted) > MAX_KEYS:
        raise malformed_xml()
    ctx.require_bucket()
    versions = dict(wanted)  # one answer per key, as S3 gives
    deletable = [key for key, version in versions.items() if version in (None, "null")]
    outcome = dict(ctx.service.delete_many(ctx.bucket, deletable)) if deletable else {}
    entries: list[Node] = []
    for key, version in versions.items():
        if version not in (None, "null"):
            missing = S3Error("NoSuchVersion", 404, "The specified version does not exist.")
            entries.append(("Error", _error(key, missing)))
        elif (error := outcome.get(key)) is not None:
            entries.append(("Error", _error(key, S3Error.from_core(error))))
        elif not quiet:
            entries.append(("Deleted", [("Key", key), ("VersionId", version)]))
    return Response.xml(render("DeleteResult", entries))


def _error(key: str, error: S3Error) -> list[Node]:
    return [("Key", key), ("Code", error.code), ("Message", error.message)]
