"""Multipart uploads, as s3transfer drives them for upload_file and upload_fileobj above
the multipart threshold (and for copies of large objects): parts kept by the client,
then stored as one logical object whose ETag is S3's for those parts (the MD5 of the
parts' MD5s, and their count), recorded with the part sizes it was made of.

S3's rules hold: parts numbered 1 to 10,000, listed in order at completion with the
ETags they were given, every part but the last at least 5 MiB.
"""

from __future__ import annotations

import hashlib
from typing import Any

from deltaglider.app.client.backend import Backend
from deltaglider.app.client.conditions import Conditions, parse_range
from deltaglider.app.client.failures import S3Failure, invalid_argument, no_such_bucket
from deltaglider.app.client.objects import (
    COPY_CONDITIONS,
    check_md5,
    copy_source,
    head_source,
    readable,
)
from deltaglider.app.client.request import KEPT_PARAMETERS, Call
from deltaglider.app.client.responses import Answer, Parsed, answer, xml_time
from deltaglider.app.client.uploads import Part, Upload, read_parts
from deltaglider.core.limits import check_put
from deltaglider.core.models import ObjectKey

MIN_PART = 5 * 1024 * 1024  # S3's smallest part but the last
MAX_PART_NUMBER = 10_000
PAGE_LIMIT = 1000


def create_multipart_upload(backend: Backend, call: Call) -> Answer:
    call.accept("Bucket", "Key", "ContentType", "Metadata", *KEPT_PARAMETERS)
    metadata = call.params.get("Metadata") or {}
    check_put(call.bucket, call.object_key.key, metadata)
    if not backend.service.buckets.bucket_exists(call.bucket):
        raise no_such_bucket(call.bucket)
    upload = backend.uploads.start(
        call.bucket, call.object_key.key, call.text("ContentType"), metadata, call.kept_headers()
    )
    return answer(200, {"Bucket": call.bucket, "Key": upload.key, "UploadId": upload.upload_id})


def upload_part(backend: Backend, call: Call) -> Answer:
    call.accept("Bucket", "Key", "UploadId", "PartNumber", "Body", "ContentLength", "ContentMD5")
    upload = _upload(backend, call)
    content_md5 = call.text("ContentMD5")
    if content_md5 is not None:
        check_md5(content_md5)
    length = call.params.get("ContentLength")
    part = backend.uploads.add_part(
        upload,
        _part_number(call),
        readable(call.params.get("Body")),
        None if length is None else int(length),
        content_md5,
    )
    return answer(200, {"ETag": part.etag}, {"etag": part.etag})


def upload_part_copy(backend: Backend, call: Call) -> Answer:
    call.accept(
        "Bucket",
        "Key",
        "UploadId",
        "PartNumber",
        "CopySource",
        "CopySourceRange",
        *COPY_CONDITIONS,
    )
    upload = _upload(backend, call)
    number = _part_number(call)
    source = copy_source(str(call.params["CopySource"]))
    Conditions.of(call, "CopySource").check(head_source(backend, source))
    wanted = call.text("CopySourceRange")
    byte_range = parse_range(wanted)
    if wanted is not None and (byte_range is None or byte_range.first is None):
        raise invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where "
            "first and last are the zero-based offsets of the first and last bytes to copy",
            "x-amz-copy-source-range",
            wanted,
        )
    with backend.service.open(source, byte_range=byte_range) as stream:
        part = backend.uploads.add_part(upload, number, stream, stream.content_length)
    result = {"ETag": part.etag, "LastModified": xml_time(part.last_modified)}
    return answer(200, {"CopyPartResult": result})


def complete_multipart_upload(backend: Backend, call: Call) -> Answer:
    call.accept("Bucket", "Key", "UploadId", "MultipartUpload")
    upload = _upload(backend, call)
    listed: list[dict[str, Any]] = (call.params.get("MultipartUpload") or {}).get("Parts") or []
    parts = _chosen_parts(upload, listed)
    md5s = b"".join(bytes.fromhex(part.md5) for part in parts)
    etag = f"{hashlib.md5(md5s).hexdigest()}-{len(parts)}"
    sizes = tuple(part.size for part in parts)
    service = backend.service
    with service.spool(read_parts(parts), size=sum(sizes)) as spooled:
        result = service.store(
            ObjectKey(upload.bucket, upload.key),
            spooled,
            content_type=upload.content_type,
            user_metadata=upload.user_metadata,
            headers=upload.headers,
            etag=etag,
            part_sizes=sizes,
        )
    backend.uploads.finish(upload)
    parsed = {
        "Location": backend.location(upload.bucket, upload.key),
        "Bucket": upload.bucket,
        "Key": upload.key,
        "ETag": result.etag,
    }
    return answer(200, parsed, {"content-type": "application/xml"})


def abort_multipart_upload(backend: Backend, call: Call) -> Answer:
    call.accept("Bucket", "Key", "UploadId")
    backend.uploads.finish(_upload(backend, call))
    return answer(204, {})


def list_parts(backend: Backend, call: Call) -> Answer:
    call.accept("Bucket", "Key", "UploadId", "MaxParts", "PartNumberMarker")
    upload = _upload(backend, call)
    marker = int(call.params.get("PartNumberMarker") or 0)
    limit = min(int(call.params.get("MaxParts") or PAGE_LIMIT), PAGE_LIMIT)
    after = [p for p in upload.sorted_parts() if p.number > marker]
    shown = after[:limit]
    owner = backend.owner()
    parsed: Parsed = {
        "Bucket": upload.bucket,
        "Key": upload.key,
        "UploadId": upload.upload_id,
        "PartNumberMarker": marker,
        "MaxParts": limit,
        "IsTruncated": len(after) > limit,
        "Initiator": owner,
        "Owner": owner,
        "StorageClass": "STANDARD",
    }
    if shown:
        parsed["NextPartNumberMarker"] = shown[-1].number
        parsed["Parts"] = [_part_fields(p) for p in shown]
    return answer(200, parsed, {"content-type": "application/xml"})


def list_multipart_uploads(backend: Backend, call: Call) -> Answer:
    call.accept("Bucket", "Prefix", "MaxUploads", "KeyMarker", "UploadIdMarker", "EncodingType")
    if not backend.service.buckets.bucket_exists(call.bucket):
        raise no_such_bucket(call.bucket)
    prefix = call.text("Prefix") or ""
    marker = (call.text("KeyMarker") or "", call.text("UploadIdMarker") or "")
    limit = min(int(call.params.get("MaxUploads") or PAGE_LIMIT), PAGE_LIMIT)
    found = [
        u
        for u in backend.uploads.in_bucket(call.bucket)
        if u.key.startswith(prefix) and (u.key, u.upload_id) > marker
    ]
    shown = found[:limit]
    owner = backend.owner()
    parsed: Parsed = {
        "Bucket": call.bucket,
        "KeyMarker": marker[0],
        "UploadIdMarker": marker[1],
        "Prefix": prefix,
        "MaxUploads": limit,
        "IsTruncated": len(found) > limit,
    }
    if shown:
        parsed["NextKeyMarker"] = shown[-1].key
        parsed["NextUploadIdMarker"] = shown[-1].upload_id
        parsed["Uploads"] = [
            {
                "UploadId": u.upload_id,
                "Key": u.key,
                "Initiated": xml_time(u.initiated),
                "StorageClass": "STANDARD",
                "Owner": owner,
                "Initiator": owner,
            }
            for u in shown
        ]
    return answer(200, parsed, {"content-type": "application/xml"})


def _upload(backend: Backend, call: Call) -> Upload:
    return backend.uploads.get(call.bucket, str(call.params["Key"]), str(call.params["UploadId"]))


def _part_number(call: Call) -> int:
    number = int(call.params["PartNumber"])
    if not 1 <= number <= MAX_PART_NUMBER:
        raise invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive",
            "partNumber",
            str(number),
        )
    return number


def _chosen_parts(upload: Upload, listed: list[dict[str, Any]]) -> list[Part]:
    """The parts a completion names, checked as S3 checks them."""
    if not listed:
        raise S3Failure(
            400,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our "
            "published schema",
        )
    numbers = [int(p["PartNumber"]) for p in listed]
    if numbers != sorted(set(numbers)):
        raise S3Failure(
            400,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. The parts list must be specified "
            "in order by part number.",
            {"UploadId": upload.upload_id},
        )
    parts = []
    for given in listed:
        number, etag = int(given["PartNumber"]), str(given.get("ETag", "")).strip('"')
        part = upload.parts.get(number)
        if part is None or part.md5 != etag:
            raise S3Failure(
                400,
                "InvalidPart",
                "One or more of the specified parts could not be found. The part might not "
                "have been uploaded, or the specified entity tag might not have matched the "
                "part's entity tag.",
                {"UploadId": upload.upload_id, "PartNumber": str(number), "ETag": etag},
            )
        parts.append(part)
    for part in parts[:-1]:
        if part.size < MIN_PART:
            raise S3Failure(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
                {
                    "ProposedSize": str(part.size),
                    "MinSizeAllowed": str(MIN_PART),
                    "PartNumber": str(part.number),
                    "ETag": part.md5,
                },
            )
    return parts


def _part_fields(part: Part) -> Parsed:
    return {
        "PartNumber": part.number,
        "LastModified": xml_time(part.last_modified),
        "ETag": part.etag,
        "Size": part.size,
    }
