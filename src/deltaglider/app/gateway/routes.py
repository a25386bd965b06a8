"""Which S3 operation a request is: by method, by whether it names a bucket and a key,
and by its subresource (`?acl`, `?uploads`, ...). A subresource this gateway does not
serve is NotImplemented (501), never treated as the plain operation: a `PUT ?tagging`
stored as an object would be a wrong success.
"""

from __future__ import annotations

from collections.abc import Callable

from deltaglider.app.gateway import buckets, copying, listing, multidelete, multipart, objects
from deltaglider.app.gateway.context import Context
from deltaglider.app.gateway.errors import S3Error, not_implemented
from deltaglider.app.gateway.http import Request, Response

Handler = Callable[[Context], Response]
Route = tuple[str, Handler]

# Query parameters that select another operation on a bucket or object in S3's API.
SUBRESOURCES = frozenset((
    "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption",
    "intelligent-tiering", "inventory", "legal-hold", "lifecycle", "location", "logging",
    "metadataConfiguration", "metrics", "notification", "object-lock", "ownershipControls",
    "policy", "policyStatus", "publicAccessBlock", "renameObject", "replication",
    "requestPayment", "restore", "retention", "select", "session", "tagging", "torrent",
    "uploadId", "uploads", "versioning", "versions", "website",
))  # fmt: skip

BUCKET_ROUTES: dict[tuple[str, str | None], Route] = {
    ("GET", None): ("ListObjects", listing.list_objects),
    ("GET", "acl"): ("GetBucketAcl", buckets.acl),
    ("GET", "location"): ("GetBucketLocation", buckets.get_location),
    ("GET", "versioning"): ("GetBucketVersioning", buckets.get_versioning),
    ("GET", "versions"): ("ListObjectVersions", listing.list_object_versions),
    ("HEAD", None): ("HeadBucket", buckets.head_bucket),
    ("PUT", None): ("CreateBucket", buckets.create_bucket),
    ("PUT", "acl"): ("PutBucketAcl", buckets.put_acl),
    ("DELETE", None): ("DeleteBucket", buckets.delete_bucket),
    ("POST", "delete"): ("DeleteObjects", multidelete.delete_objects),
    ("GET", "uploads"): ("ListMultipartUploads", multipart.list_uploads),
}
OBJECT_ROUTES: dict[tuple[str, str | None], Route] = {
    ("GET", None): ("GetObject", objects.get_object),
    ("GET", "acl"): ("GetObjectAcl", objects.get_acl),
    ("HEAD", None): ("HeadObject", objects.head_object),
    ("PUT", None): ("PutObject", objects.put_object),
    ("PUT", "acl"): ("PutObjectAcl", objects.put_acl),
    ("DELETE", None): ("DeleteObject", objects.delete_object),
    ("POST", "uploads"): ("CreateMultipartUpload", multipart.create),
    ("PUT", "uploadId"): ("UploadPart", multipart.upload_part),
    ("POST", "uploadId"): ("CompleteMultipartUpload", multipart.complete),
    ("DELETE", "uploadId"): ("AbortMultipartUpload", multipart.abort),
    ("GET", "uploadId"): ("ListParts", multipart.list_parts),
}


def route(request: Request) -> Route:
    """The operation and its handler; NotImplemented or MethodNotAllowed otherwise."""
    if request.bucket is None:
        if request.method == "GET":
            return "ListBuckets", buckets.list_buckets
        raise _not_allowed(request.method)
    named = sorted(SUBRESOURCES.intersection(request.query))
    if len(named) > 1:
        raise not_implemented("?" + "&".join(named))
    subresource = named[0] if named else None
    table = OBJECT_ROUTES if request.key is not None else BUCKET_ROUTES
    found = table.get((request.method, subresource))
    if found is None:
        if subresource is not None:
            raise not_implemented(f"?{subresource}")
        raise _not_allowed(request.method)
    operation, handler = found
    if operation == "ListObjects" and request.query.get("list-type") == "2":
        return "ListObjectsV2", listing.list_objects_v2
    if operation == "PutObject" and "x-amz-copy-source" in request.headers:
        return "CopyObject", copying.copy_object
    if operation == "UploadPart" and "x-amz-copy-source" in request.headers:
        operation = "UploadPartCopy"
    if "versionId" in request.query and request.query["versionId"] != "null":
        raise S3Error("InvalidArgument", 400, "Invalid version id specified",
                      extra={"ArgumentName": "versionId",
                             "ArgumentValue": request.query["versionId"]})  # fmt: skip
    return operation, handler


def _not_allowed(method: str) -> S3Error:
    return S3Error("MethodNotAllowed", 405,
                   "The specified method is not allowed against this resource.",
                   extra={"Method": method})  # fmt: skip
