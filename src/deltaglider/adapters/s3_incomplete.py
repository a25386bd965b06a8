"""Multipart uploads left part-way on S3, read for garbage collection.

A process killed during a multipart upload leaves it on the server: its parts are
stored and billed until the upload is aborted, and no object listing shows them. These
are S3's ListMultipartUploads and ListParts, read whole (both are paged).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from deltaglider.ports import IncompleteUpload, UploadProgress

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def incomplete_uploads(client: S3Client, bucket: str, prefix: str) -> Iterator[IncompleteUpload]:
    """Every multipart upload under way in the bucket for keys starting with `prefix`."""
    pages = client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for upload in page.get("Uploads", []):
            yield IncompleteUpload(upload["Key"], upload["UploadId"], upload["Initiated"])


def upload_progress(client: S3Client, bucket: str, key: str, upload_id: str) -> UploadProgress:
    """The bytes of the upload's parts and when its newest part came. The caller maps
    botocore's errors (NoSuchUpload for an upload that is gone)."""
    size = 0
    last = None
    pages = client.get_paginator("list_parts").paginate(Bucket=bucket, Key=key, UploadId=upload_id)
    for page in pages:
        for part in page.get("Parts", []):
            size += part["Size"]
            if last is None or part["LastModified"] > last:
                last = part["LastModified"]
    return UploadProgress(size, last)
