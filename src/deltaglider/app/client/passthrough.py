"""Calls that go to an S3 store as they are, and calls refused with the reason.

A bucket's own settings (tags, policy, CORS, ACL, encryption, public access block,
ownership, logging) touch no object, so on an S3 store they are the store's answer. An
object's tags and ACL are those of its stored object, which the call is made on. Calls
that would act on stored objects rather than logical ones (versions, lifecycle rules,
replication, notifications...) are refused with S3's NotImplemented and why; so is every
other call DeltaGlider's client does not implement.
"""

from __future__ import annotations

from typing import NoReturn

from botocore import xform_name
from botocore.exceptions import ClientError

from deltaglider.app.client.backend import Backend
from deltaglider.app.client.failures import not_implemented
from deltaglider.app.client.request import Call
from deltaglider.app.client.responses import Answer, Parsed, http_response

_SETTINGS = ("Tagging", "Policy", "Cors", "Acl", "Encryption", "OwnershipControls", "Logging")
BUCKET_SETTINGS = frozenset(
    {f"{verb}Bucket{name}" for verb in ("Get", "Put", "Delete") for name in _SETTINGS}
    | {f"{verb}PublicAccessBlock" for verb in ("Get", "Put", "Delete")}
    | {"GetBucketPolicyStatus", "GetBucketVersioning", "GetBucketRequestPayment"}
) - {"DeleteBucketAcl", "DeleteBucketLogging"}
OBJECT_SETTINGS = frozenset(
    {"GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging", "GetObjectAcl", "PutObjectAcl"}
)
_STORED = "it would act on the stored objects (deltas, references), not on the logical ones"
WHY_NOT = {
    "ListObjectVersions": "versions of stored objects are not versions of the logical ones",
    "PutBucketVersioning": "versions of stored objects would not be versions of the logical ones",
    "PutBucketLifecycleConfiguration": "lifecycle rules act on stored objects: expiring a "
    "reference would lose every delta made against it",
    "PutBucketReplication": _STORED,
    "PutBucketNotificationConfiguration": "events would name stored objects (K.delta, "
    "references), not the logical ones",
    "PutBucketWebsite": "a website would serve stored deltas, not files",
    "SelectObjectContent": "S3 cannot read into a delta; read the object and filter it here",
    "RestoreObject": _STORED,
    "PutObjectRetention": _STORED,
    "PutObjectLegalHold": _STORED,
    "PutObjectLockConfiguration": _STORED,
    "WriteGetObjectResponse": "DeltaGlider's client is not an Object Lambda",
}


def passthrough(backend: Backend, call: Call, stored_key: str | None = None) -> Answer:
    """The store's own answer to the call (made on `stored_key` for an object's settings);
    its errors come back as the store gave them, for botocore to raise again."""
    assert backend.store is not None
    params = dict(call.params)
    if stored_key is not None:
        params["Key"] = stored_key
    method = getattr(backend.store, xform_name(call.operation))
    try:
        parsed: Parsed = method(**params)
    except ClientError as exc:
        parsed = dict(exc.response)
        if stored_key is not None and "Key" in parsed.get("Error", {}):
            parsed["Error"] = parsed["Error"] | {"Key": call.key}
    status = int(parsed.get("ResponseMetadata", {}).get("HTTPStatusCode", 200))
    headers = parsed.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return http_response(status, headers), parsed


def bucket_setting(backend: Backend, call: Call) -> Answer:
    if backend.store is None:
        raise not_implemented(
            f"{call.operation} is not supported on a local store (file://): it has no "
            "bucket settings"
        )
    return passthrough(backend, call)


def object_setting(backend: Backend, call: Call) -> Answer:
    if backend.store is None:
        raise not_implemented(
            f"{call.operation} is not supported on a local store (file://): it keeps no "
            "tags or ACLs"
        )
    call.accept(*(name for name in call.params if name != "VersionId"))
    found = backend.service.head(call.object_key)
    return passthrough(backend, call, found.stored_key)


def refused(call: Call) -> NoReturn:
    why = WHY_NOT.get(call.operation, "DeltaGlider's client does not implement it")
    raise not_implemented(f"{call.operation} is not supported: {why}")
