"""AWS Signature Version 2, which S3 still takes and boto3 still uses for presigned URLs
unless told otherwise (`generate_presigned_url` with no `signature_version`): the
`Authorization: AWS KEY:SIGNATURE` header, or `AWSAccessKeyId`, `Signature` and
`Expires` in the query. The signature is base64(HMAC-SHA1(secret, StringToSign)):

    METHOD \\n Content-MD5 \\n Content-Type \\n Date (or Expires) \\n
    x-amz-* headers (lowercase, sorted, `name:value` lines) the resource

where the resource is the path as sent (`/bucket/` for a bucket) plus the subresources
among the query, sorted.
The body is not signed: Content-MD5, when sent, is checked by the handlers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import unquote

from deltaglider.app.gateway.errors import S3Error
from deltaglider.app.gateway.http import Request

# Query parameters that are part of a SigV2 resource (S3's subresources and overrides).
SIGNED_PARAMETERS = frozenset((
    "accelerate", "acl", "analytics", "cors", "delete", "inventory", "lifecycle", "location",
    "logging", "metrics", "notification", "object-lock", "partNumber", "policy",
    "replication", "requestPayment", "response-cache-control", "response-content-disposition",
    "response-content-encoding", "response-content-language", "response-content-type",
    "response-expires", "restore", "select", "select-type", "storageClass", "tagging",
    "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
))  # fmt: skip


def string_to_sign(request: Request, date: str) -> str:
    """What a SigV2 signature signs; `date` is the Date header (or the query's Expires)."""
    headers = request.headers
    amz = sorted(
        (name, " ".join(value.split())) for name, value in headers.items()
        if name.startswith("x-amz-")
    )  # fmt: skip
    lines = [request.method, headers.get("content-md5", ""), headers.get("content-type", ""), date]
    lines += [f"{name}:{value}" for name, value in amz]
    return "\n".join([*lines, resource(request)])


def resource(request: Request) -> str:
    pairs = []
    for piece in filter(None, request.query_string.split("&")):
        name, equals, value = piece.partition("=")
        if name in SIGNED_PARAMETERS:
            pairs.append((name, f"{name}={unquote(value)}" if equals else name))
    query = "&".join(text for _, text in sorted(pairs))
    path = request.bucket_path
    if request.bucket is not None and request.key is None and not path.endswith("/"):
        path += "/"  # a bucket's resource is `/bucket/`
    return path + (f"?{query}" if query else "")


def signature(secret: str, text: str) -> str:
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def check(users: Mapping[str, str], access_key: str, given: str, text: str) -> None:
    """InvalidAccessKeyId or SignatureDoesNotMatch unless `given` signs `text`."""
    secret = users.get(access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", 403,
                      "The AWS Access Key Id you provided does not exist in our records.",
                      extra={"AWSAccessKeyId": access_key})  # fmt: skip
    if not hmac.compare_digest(signature(secret, text), given):
        raise S3Error("SignatureDoesNotMatch", 403,
                      "The request signature we calculated does not match the signature you "
                      "provided. Check your key and signing method.",
                      extra={"AWSAccessKeyId": access_key, "StringToSign": text})  # fmt: skip
