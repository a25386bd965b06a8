"""Where a call leaves botocore: instead of an HTTP request to S3, an answer made by the
DeltaService for the logical objects.

botocore builds and validates the request as it would for S3 (its parameter checks,
its handlers), then asks its `before-call` handlers whether one has the answer
already, as botocore's Stubber does; this one always has. botocore then raises an error
answer as the ClientError its exception factory has for the code, or returns the
parsed response, exactly as it does with S3's. Everything built on calls (paginators,
waiters, s3transfer's upload_file and download_file with their callbacks) works
unchanged on top.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from botocore.exceptions import EndpointConnectionError, NoCredentialsError
from botocore.model import OperationModel

from deltaglider.app.client import buckets, listing, multipart, objects, passthrough
from deltaglider.app.client.backend import Backend
from deltaglider.app.client.failures import S3Failure, from_core
from deltaglider.app.client.request import Call
from deltaglider.app.client.responses import Answer, failure
from deltaglider.core.errors import (
    CredentialsError,
    DeltaGliderError,
    EndpointError,
    ObjectNotFound,
)

Handler = Callable[[Backend, Call], Answer]
_PARAMS = "deltaglider.params"  # where the call's parameters wait in botocore's context
HANDLERS: dict[str, Handler] = {
    "PutObject": objects.put_object,
    "GetObject": objects.get_object,
    "HeadObject": objects.head_object,
    "CopyObject": objects.copy_object,
    "DeleteObject": objects.delete_object,
    "DeleteObjects": objects.delete_objects,
    "ListObjectsV2": listing.list_objects_v2,
    "ListObjects": listing.list_objects,
    "CreateMultipartUpload": multipart.create_multipart_upload,
    "UploadPart": multipart.upload_part,
    "UploadPartCopy": multipart.upload_part_copy,
    "CompleteMultipartUpload": multipart.complete_multipart_upload,
    "AbortMultipartUpload": multipart.abort_multipart_upload,
    "ListParts": multipart.list_parts,
    "ListMultipartUploads": multipart.list_multipart_uploads,
    "CreateBucket": buckets.create_bucket,
    "DeleteBucket": buckets.delete_bucket,
    "HeadBucket": buckets.head_bucket,
    "GetBucketLocation": buckets.get_bucket_location,
    "ListBuckets": buckets.list_buckets,
    **dict.fromkeys(passthrough.BUCKET_SETTINGS, passthrough.bucket_setting),
    **dict.fromkeys(passthrough.OBJECT_SETTINGS, passthrough.object_setting),
}
BODILESS = frozenset({"HeadObject", "HeadBucket"})  # S3 answers these without a body


class Dispatcher:
    """The two botocore handlers of one client: keep the parameters, answer the call."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def keep_params(
        self, params: dict[str, Any], context: MutableMapping[str, Any], **_: Any
    ) -> None:
        """`before-parameter-build`: the parameters as boto3 users pass them (the request
        botocore serialises from them is not what the service needs)."""
        context[_PARAMS] = params

    def answer(self, model: OperationModel, context: MutableMapping[str, Any], **_: Any) -> Answer:
        """`before-call`: the answer to the call, made by the service."""
        call = Call(model.name, context.get(_PARAMS) or {})
        bodiless = call.operation in BODILESS
        try:
            try:
                return self.handle(call)
            except DeltaGliderError as exc:
                raise self.failure_for(exc, call) from None
        except S3Failure as failed:
            return failure(failed, bodiless=bodiless or failed.status == 304)
        except DeltaGliderError as exc:  # failed again, telling what failed
            return failure(from_core(exc, call.bucket, call.key), bodiless=bodiless)

    def handle(self, call: Call) -> Answer:
        handler = HANDLERS.get(call.operation)
        if handler is None:
            passthrough.refused(call)
        return handler(self.backend, call)

    def failure_for(self, exc: DeltaGliderError, call: Call) -> S3Failure:
        """S3's error for the core's: a key not found may be its bucket not found. A
        request that never reached the store is raised as botocore raises it."""
        if isinstance(exc, EndpointError):
            raise EndpointConnectionError(endpoint_url=self.backend.endpoint) from None
        if isinstance(exc, CredentialsError) and exc.operation is None:  # none were found
            raise NoCredentialsError from None
        if isinstance(exc, ObjectNotFound) and call.key is not None:
            return self.backend.missing(call.object_key)
        return from_core(exc, call.bucket, call.key)
