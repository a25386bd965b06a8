"""Multipart uploads over HTTP: Create, UploadPart, UploadPartCopy, Complete, Abort,
ListParts, ListMultipartUploads. The uploads themselves are staged in the store
(core/multipart.py), so any gateway process can serve any step of one.

Completing a large upload takes a while (its parts are read back and stored as one
object, a delta when that pays): once the part list has been checked, the answer starts
at once (200, as S3 does) and whitespace is sent every few seconds until the result
document, so that clients and load balancers do not time out; a failure after that
point comes as an <Error> document in the 200 answer, which SDKs retry.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

from deltaglider.app.gateway.conditions import check_read, check_write
from deltaglider.app.gateway.context import Context
from deltaglider.app.gateway.copying import copy_source
from deltaglider.app.gateway.errors import S3Error, malformed_xml
from deltaglider.app.gateway.headers import described, refuse_unsupported
from deltaglider.app.gateway.http import Response
from deltaglider.app.gateway.objects import check_key, content_md5, find, found
from deltaglider.app.gateway.xml import Node, XMLError, parse, render, text, timestamp
from deltaglider.core.errors import BadDigest, DeltaGliderError, InvalidRange, UploadNotFound
from deltaglider.core.models import ByteRange
from deltaglider.core.multipart import MAX_PART_NUMBER, Multipart, Upload, multipart_etag

XML_LIMIT = 2 * 1024 * 1024  # a completion listing 10,000 parts
MAX_PART = 5 * 1024**3  # S3's largest part
KEEPALIVE = 5.0  # seconds between whitespace while a completion runs


def create(ctx: Context) -> Response:
    refuse_unsupported(ctx.request.headers)
    check_key(ctx.bucket, ctx.key)
    attributes = described(ctx.request.headers).attributes()
    upload = Multipart(ctx.service).create(ctx.object_key, attributes, ctx.owner)
    return Response.xml(render("InitiateMultipartUploadResult", [
        ("Bucket", ctx.bucket), ("Key", ctx.key), ("UploadId", upload.upload_id),
    ]))  # fmt: skip


def _upload(ctx: Context) -> tuple[Multipart, Upload]:
    uploads = Multipart(ctx.service)
    return uploads, uploads.find(ctx.object_key, ctx.request.query["uploadId"])


def _number(ctx: Context) -> int:
    raw = ctx.request.query.get("partNumber", "")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PART_NUMBER:
        raise S3Error("InvalidArgument", 400, "Part number must be an integer between 1 and "
                      "10000, inclusive", extra={"ArgumentName": "partNumber",
                                                 "ArgumentValue": raw})  # fmt: skip
    return int(raw)


def upload_part(ctx: Context) -> Response:
    if "x-amz-copy-source" in ctx.request.headers:
        return upload_part_copy(ctx)
    number = _number(ctx)
    digest = content_md5(ctx.request.headers.get("content-md5"))
    uploads, upload = _upload(ctx)
    payload = ctx.payload()
    if payload.size is not None and payload.size > MAX_PART:
        raise S3Error("EntityTooLarge", 400, "Your proposed upload exceeds the maximum "
                      "allowed size")  # fmt: skip
    with ctx.service.spool(payload.chunks(), size=payload.size) as spooled:
        payload.check(spooled.sha256)
        if digest is not None and digest != spooled.md5:
            raise BadDigest(digest, spooled.md5)
        part = uploads.stage(upload, number, spooled)
    return Response.empty(headers=[("ETag", part.etag)])


def upload_part_copy(ctx: Context) -> Response:
    """A part copied from a logical object (a byte range of it), read as a stream."""
    number = _number(ctx)
    headers = ctx.request.headers
    source = copy_source(headers["x-amz-copy-source"])
    uploads, upload = _upload(ctx)
    info = found(ctx, source)
    check_read(headers, info, prefix="x-amz-copy-source-")
    wanted = _copy_range(headers.get("x-amz-copy-source-range"), info.size)
    with (
        ctx.heavy_for(info.size),
        ctx.service.open(source, byte_range=wanted) as stream,
        ctx.service.spool(stream, size=stream.content_length) as spooled,
    ):
        part = uploads.stage(upload, number, spooled)
    return Response.xml(render("CopyPartResult", [
        ("LastModified", timestamp(part.last_modified)), ("ETag", part.etag),
    ]))  # fmt: skip


def _copy_range(header: str | None, size: int) -> ByteRange | None:
    """x-amz-copy-source-range: `bytes=first-last`, wholly inside the source."""
    if header is None:
        return None
    spec = header.strip().removeprefix("bytes=")
    first, _, last = spec.partition("-")
    if not first.isdigit() or not last.isdigit() or int(first) > int(last):
        raise S3Error("InvalidArgument", 400, "The x-amz-copy-source-range value must be "
                      "of the form bytes=first-last where first and last are the zero-based "
                      "offsets of the first and last bytes to copy")  # fmt: skip
    if int(last) >= size:
        raise InvalidRange(size)
    return ByteRange(first=int(first), last=int(last))


def complete(ctx: Context) -> Response:
    """CompleteMultipartUpload, conditional as a PUT is (If-None-Match, If-Match). A
    completion repeated after it succeeded answers as the first did (S3 does so for a
    while): the object is there with the ETag the listed parts make."""
    wanted = _part_list(ctx.payload().read_all(XML_LIMIT))
    uploads = Multipart(ctx.service)
    try:
        upload = uploads.find(ctx.object_key, ctx.request.query["uploadId"])
    except UploadNotFound:
        current = find(ctx, ctx.object_key)
        if current is None or current.etag != f'"{multipart_etag(_md5s(wanted))}"':
            raise
        return Response.xml(render("CompleteMultipartUploadResult", _result(ctx, current.etag)))
    if "if-none-match" in ctx.request.headers or "if-match" in ctx.request.headers:
        check_write(ctx.request.headers, find(ctx, ctx.object_key), ctx.bucket, ctx.key)
    parts = uploads.chosen(upload, wanted)

    def finish() -> list[Node]:
        with ctx.heavy_for(sum(p.size for p in parts)):
            result = uploads.complete(upload, parts)
        ctx.request.stored = (result.file_size, result.stored_size)
        return _result(ctx, result.etag)

    return Response(200, [("Content-Type", "application/xml")],
                    _kept_alive(finish, "CompleteMultipartUploadResult", ctx))  # fmt: skip


def _part_list(body: bytes) -> list[tuple[int, str]]:
    try:
        root = parse(body)
    except XMLError:
        raise malformed_xml() from None
    wanted: list[tuple[int, str]] = []
    for element in root.findall("Part"):
        number, etag = text(element, "PartNumber"), text(element, "ETag")
        if number is None or not number.strip().isdigit() or etag is None:
            raise malformed_xml()
        wanted.append((int(number), etag))
    if root.tag != "CompleteMultipartUpload" or not wanted:
        raise malformed_xml()
    return wanted


def _md5s(wanted: list[tuple[int, str]]) -> list[str]:
    """The listed parts' MD5s (the last entry of a number named twice); zeros for an
    ETag that is not an MD5, which then matches no object."""
    md5s = [etag.strip().strip('"').lower() for etag in dict(wanted).values()]
    return [m if len(m) == 32 and all(c in "0123456789abcdef" for c in m) else "0" * 32
            for m in md5s]  # fmt: skip


def _result(ctx: Context, etag: str) -> list[Node]:
    return [("Location", f"/{ctx.bucket}/{ctx.key}"), ("Bucket", ctx.bucket),
            ("Key", ctx.key), ("ETag", etag)]  # fmt: skip


def _kept_alive(work: Callable[[], list[Node]], root: str, ctx: Context) -> Iterator[bytes]:
    """The declaration at once, a space every KEEPALIVE seconds while `work` runs, then
    its document (or S3's <Error> for what it raised)."""
    outcome: queue.Queue[list[Node] | BaseException] = queue.Queue()

    def run() -> None:
        try:
            outcome.put(work())
        except BaseException as exc:  # handed to the response below
            outcome.put(exc)

    threading.Thread(target=run, name="complete-multipart", daemon=True).start()
    yield b'<?xml version="1.0" encoding="UTF-8"?>\n'
    while True:
        try:
            result = outcome.get(timeout=KEEPALIVE)
            break
        except queue.Empty:
            yield b" "
    if isinstance(result, BaseException):
        error = (S3Error.from_core(result) if isinstance(result, DeltaGliderError)
                 else S3Error("InternalError", 500, "We encountered an internal error. "
                              "Please try again."))  # fmt: skip
        document = error.to_xml(ctx.request.request_id, ctx.request.resource)
    else:
        document = render(root, result)
    yield document.split(b"\n", 1)[1]


def abort(ctx: Context) -> Response:
    uploads, upload = _upload(ctx)
    uploads.abort(upload)
    return Response.empty(204)


def list_parts(ctx: Context) -> Response:
    uploads, upload = _upload(ctx)
    limit = ctx.query_int("max-parts", 1000, 0, 1000)
    after = ctx.query_int("part-number-marker", 0, 0, MAX_PART_NUMBER)
    shown = [p for p in uploads.parts(upload) if p.number > after]
    page, more = shown[:limit], len(shown) > limit
    fields: list[Node] = [
        ("Bucket", ctx.bucket), ("Key", ctx.key), ("UploadId", upload.upload_id),
        ("Initiator", _person(upload.owner)), ("Owner", _person(upload.owner)),
        ("StorageClass", "STANDARD"), ("PartNumberMarker", after),
        ("NextPartNumberMarker", page[-1].number if more else None), ("MaxParts", limit),
        ("IsTruncated", more),
    ]  # fmt: skip
    fields += [("Part", [
        ("PartNumber", p.number), ("LastModified", timestamp(p.last_modified)),
        ("ETag", p.etag), ("Size", p.size),
    ]) for p in page]  # fmt: skip
    return Response.xml(render("ListPartsResult", fields))


def list_uploads(ctx: Context) -> Response:
    """ListMultipartUploads: by key and start, paged by key-marker/upload-id-marker."""
    ctx.require_bucket()
    q = ctx.request.query
    prefix, key_marker = q.get("prefix", ""), q.get("key-marker", "")
    id_marker = q.get("upload-id-marker", "")
    limit = ctx.query_int("max-uploads", 1000, 0, 1000)
    every = [u for u in Multipart(ctx.service).uploads(ctx.bucket) if u.key.startswith(prefix)]
    after = _after(every, key_marker, id_marker)
    page, more = after[:limit], len(after) > limit
    fields: list[Node] = [
        ("Bucket", ctx.bucket), ("KeyMarker", key_marker), ("UploadIdMarker", id_marker),
        ("NextKeyMarker", page[-1].key if more else None),
        ("NextUploadIdMarker", page[-1].upload_id if more else None),
        ("Prefix", prefix), ("MaxUploads", limit), ("IsTruncated", more),
    ]  # fmt: skip
    fields += [("Upload", [
        ("Key", u.key), ("UploadId", u.upload_id), ("Initiator", _person(u.owner)),
        ("Owner", _person(u.owner)), ("StorageClass", "STANDARD"),
        ("Initiated", timestamp(u.initiated)),
    ]) for u in page]  # fmt: skip
    return Response.xml(render("ListMultipartUploadsResult", fields))


def _after(every: list[Upload], key_marker: str, id_marker: str) -> list[Upload]:
    """The uploads after the markers: keys after key-marker, and with upload-id-marker,
    that key's uploads after that one."""
    if not key_marker:
        return every
    for index, upload in enumerate(every):
        if upload.key > key_marker:
            return every[index:]
        if upload.key == key_marker and id_marker and upload.upload_id == id_marker:
            return every[index + 1 :]
    return []


def _person(name: str) -> list[Node]:
    return [("ID", name), ("DisplayName", name)]
