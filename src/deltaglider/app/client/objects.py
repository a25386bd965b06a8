"""Object calls on logical objects: PutObject, GetObject, HeadObject, CopyObject,
DeleteObject, DeleteObjects.

Reads are rebuilt and checked before the first byte is handed out; a conditional read
is decided on a HEAD first (a 304 costs no rebuild), then again on the version read.
Deletes remove the stored form of each key; a DeltaSpace left with no delta loses its
references at once, so an emptied prefix is gone as it is from S3.
"""

from __future__ import annotations

import base64
import binascii
import io
from contextlib import ExitStack
from typing import Any, BinaryIO
from urllib.parse import unquote

from deltaglider.app.client.backend import Backend
from deltaglider.app.client.conditions import Conditions, content_range, parse_range
from deltaglider.app.client.failures import (
    S3Failure,
    invalid_range,
    invalid_request,
    not_implemented,
)
from deltaglider.app.client.request import KEPT_PARAMETERS, Call
from deltaglider.app.client.responses import (
    Answer,
    Parsed,
    answer,
    body,
    object_fields,
    xml_time,
)
from deltaglider.core.attributes import Attributes
from deltaglider.core.errors import InvalidRange, ObjectNotFound
from deltaglider.core.models import LogicalObject, ObjectKey

READ_CONDITIONS = ("IfMatch", "IfNoneMatch", "IfModifiedSince", "IfUnmodifiedSince")
COPY_CONDITIONS = tuple(f"CopySource{c}" for c in READ_CONDITIONS)
# GetObject's overrides of the answer's headers, and the fields they set.
OVERRIDES = {
    "ResponseContentType": "ContentType",
    "ResponseContentDisposition": "ContentDisposition",
    "ResponseContentEncoding": "ContentEncoding",
    "ResponseContentLanguage": "ContentLanguage",
    "ResponseCacheControl": "CacheControl",
}
MAX_DELETE = 1000
COPY_ONTO_ITSELF = (
    "This copy request is illegal because it is trying to copy an object to itself without "
    "changing the object's metadata, storage class, website redirect location or encryption "
    "attributes."
)


def put_object(backend: Backend, call: Call) -> Answer:
    call.accept(
        "Bucket", "Key", "Body", "ContentLength", "ContentMD5", "ContentType", "Metadata",
        *KEPT_PARAMETERS,
    )  # fmt: skip
    content_md5 = call.text("ContentMD5")
    if content_md5 is not None:
        check_md5(content_md5)
    length = call.params.get("ContentLength")
    result = backend.service.put(
        call.object_key,
        readable(call.params.get("Body")),
        size=None if length is None else int(length),
        content_md5=content_md5,
        content_type=call.text("ContentType"),
        user_metadata=call.params.get("Metadata") or {},
        headers=call.kept_headers(),
    )
    return answer(200, {"ETag": result.etag}, {"etag": result.etag, "content-length": "0"})


def get_object(backend: Backend, call: Call) -> Answer:
    call.accept("Bucket", "Key", "Range", "ChecksumMode", *READ_CONDITIONS, *OVERRIDES)
    key, conditions = call.object_key, Conditions.of(call)
    if conditions.given:
        conditions.check(backend.service.head(key))  # a 304 or 412 needs no rebuild
    wanted = parse_range(call.text("Range"))
    stack = ExitStack()
    try:
        try:
            stream = stack.enter_context(backend.service.open(key, byte_range=wanted))
        except InvalidRange as exc:
            raise invalid_range(call.text("Range") or "", exc.size) from None
        conditions.check(stream.info)  # the version read
        fields, headers = object_fields(stream.info)
        fields["ContentLength"] = stream.content_length
        headers["content-length"] = str(stream.content_length)
        status = 200
        if wanted is not None:
            status = 206
            fields["ContentRange"] = headers["content-range"] = content_range(
                stream.start, stream.stop, stream.info.size
            )
        for override, name in OVERRIDES.items():
            if call.text(override) is not None:
                fields[name] = call.text(override)
        fields["Body"] = body(stream, stack.close)
    except BaseException:
        stack.close()
        raise
    return answer(status, fields, headers)


def head_object(backend: Backend, call: Call) -> Answer:
    call.accept("Bucket", "Key", "Range", "ChecksumMode", *READ_CONDITIONS)
    info = backend.service.head(call.object_key)
    Conditions.of(call).check(info)
    fields, headers = object_fields(info)
    wanted = parse_range(call.text("Range"))
    if wanted is None:
        return answer(200, fields, headers)
    try:
        start, stop = wanted.resolve(info.size)
    except InvalidRange:
        raise invalid_range(call.text("Range") or "", info.size) from None
    fields["ContentLength"] = stop - start
    headers["content-length"] = str(stop - start)
    fields["ContentRange"] = headers["content-range"] = content_range(start, stop, info.size)
    return answer(206, fields, headers)


def copy_object(backend: Backend, call: Call) -> Answer:
    call.accept(
        "Bucket",
        "Key",
        "CopySource",
        "MetadataDirective",
        "Metadata",
        "ContentType",
        *KEPT_PARAMETERS,
        *COPY_CONDITIONS,
    )
    source = copy_source(str(call.params["CopySource"]))
    dest = call.object_key
    replace = call.text("MetadataDirective") == "REPLACE"
    if source == dest and not replace:
        raise invalid_request(COPY_ONTO_ITSELF)
    Conditions.of(call, "CopySource").check(head_source(backend, source))
    kept = None
    if replace:
        kept = Attributes(
            content_type=call.text("ContentType"),
            user_metadata=call.params.get("Metadata") or {},
            headers=call.kept_headers(),
        )
    try:
        result = backend.service.copy(source, dest, replace=kept)
    except ObjectNotFound:
        raise backend.missing(source) from None  # gone since its HEAD
    copied = backend.service.head(dest)
    copied_result = {"ETag": result.etag, "LastModified": xml_time(copied.last_modified)}
    return answer(200, {"CopyObjectResult": copied_result})


def delete_object(backend: Backend, call: Call) -> Answer:
    call.accept("Bucket", "Key")
    key = call.object_key
    backend.service.delete(key)
    backend.collect_emptied([key.delta_space])
    return answer(204, {})


def delete_objects(backend: Backend, call: Call) -> Answer:
    call.accept("Bucket", "Delete", "ChecksumAlgorithm")
    request: dict[str, Any] = call.params["Delete"]
    objects: list[dict[str, Any]] = request["Objects"]
    if any("VersionId" in o for o in objects):
        raise not_implemented(
            "DeleteObjects with VersionId is not supported: versions of "
            "stored objects are not versions of the logical ones"
        )
    if not objects or len(objects) > MAX_DELETE:
        raise S3Failure(
            400,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our "
            "published schema",
        )
    keys = [str(o["Key"]) for o in objects]
    results = backend.service.delete_many(call.bucket, keys)
    backend.collect_emptied(ObjectKey(call.bucket, key).delta_space for key in keys)
    parsed: Parsed = {}
    deleted = [{"Key": key} for key, error in results if error is None]
    errors = [
        {"Key": key, "Code": error.code, "Message": error.explanation}
        for key, error in results
        if error is not None
    ]
    if deleted and not request.get("Quiet", False):
        parsed["Deleted"] = deleted
    if errors:
        parsed["Errors"] = errors
    return answer(200, parsed)


def head_source(backend: Backend, source: ObjectKey) -> LogicalObject:
    """The source of a copy, or S3's answer naming it when it is missing."""
    try:
        return backend.service.head(source)
    except ObjectNotFound:
        raise backend.missing(source) from None


def copy_source(header: str) -> ObjectKey:
    """The bucket and key of a CopySource (botocore sends it quoted, dict or str alike)."""
    path, _, query = header.partition("?")
    if query and query != "versionId=null":
        raise not_implemented(
            "CopySource with a versionId is not supported: versions of stored objects are "
            "not versions of the logical ones"
        )
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    return ObjectKey(bucket, key)


def check_md5(value: str) -> None:
    """A Content-MD5 must be the base64 of 16 bytes (S3's InvalidDigest otherwise)."""
    try:
        valid = len(base64.b64decode(value, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise S3Failure(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")


def readable(payload: object) -> BinaryIO:
    """A request body as a stream: a file object (botocore makes one of str and bytes),
    bytes-like, or nothing (an empty body). s3transfer's chunks count bytes for their
    callbacks only once told the transfer has begun, as an HTTP send tells them."""
    if payload is None:
        return io.BytesIO()
    if isinstance(payload, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(payload))
    signal = getattr(payload, "signal_transferring", None)
    if callable(signal):
        signal()
    assert hasattr(payload, "read")  # botocore's validation took only bytes or file objects
    return payload  # type: ignore[return-value]
