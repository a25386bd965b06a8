"""What an object's request headers say it is, and the headers a GET or HEAD answers
with: Content-Type, the headers S3 keeps (Cache-Control and the like), user metadata.

Headers S3 would act on and this gateway cannot honour (encryption, tagging, object
lock, website redirects, other storage classes) are refused with NotImplemented, never
ignored: storing an object unencrypted when asked to encrypt it would be a wrong success.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from deltaglider.app.gateway.errors import S3Error, not_implemented
from deltaglider.app.gateway.http import http_date
from deltaglider.core.attributes import KEPT_HEADERS, Attributes
from deltaglider.core.models import LogicalObject

META_PREFIX = "x-amz-meta-"
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
_REFUSED = (
    "x-amz-server-side-encryption", "x-amz-tagging", "x-amz-object-lock-",
    "x-amz-website-redirect-location",
)  # fmt: skip
# Storage classes stored as they are asked for: REDUCED_REDUNDANCY is kept by S3 as
# STANDARD is; the archive and infrequent-access classes would not be what was asked.
KEPT_CLASSES = ("STANDARD", "REDUCED_REDUNDANCY")
# GET's query overrides of response headers, as S3 names them.
OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


@dataclass(frozen=True)
class Described:
    """Content-Type, kept headers and user metadata a PUT (or a REPLACE copy) gives."""

    content_type: str | None
    user_metadata: dict[str, str] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)

    def attributes(self) -> Attributes:
        return Attributes(content_type=self.content_type, user_metadata=self.user_metadata,
                          headers=self.kept)  # fmt: skip


def refuse_unsupported(headers: Mapping[str, str]) -> None:
    for name, value in headers.items():
        if name.startswith(_REFUSED):
            raise not_implemented(name)
        if name == "x-amz-storage-class" and value.upper() not in KEPT_CLASSES:
            raise S3Error("InvalidStorageClass", 400,
                          "The storage class you specified is not valid")  # fmt: skip


def described(headers: Mapping[str, str]) -> Described:
    """The attributes a PUT's headers give the object. `aws-chunked` is how the body
    travelled, not what it is: it is left out of the Content-Encoding kept."""
    meta = {k[len(META_PREFIX) :]: v for k, v in headers.items() if k.startswith(META_PREFIX)}
    kept = {name: headers[name] for name in KEPT_HEADERS if name in headers}
    if "content-encoding" in kept:
        codings = [c.strip() for c in kept["content-encoding"].split(",")]
        remaining = [c for c in codings if c and c.lower() != "aws-chunked"]
        if remaining:
            kept["content-encoding"] = ", ".join(remaining)
        else:
            del kept["content-encoding"]
    return Described(headers.get("content-type"), meta, kept)


def object_headers(info: LogicalObject) -> list[tuple[str, str]]:
    """The headers a GET or HEAD of this object answers with (Content-Length aside)."""
    headers = [
        ("Content-Type", info.content_type or DEFAULT_CONTENT_TYPE),
        ("ETag", info.etag),
        ("Last-Modified", http_date(info.last_modified)),
        ("Accept-Ranges", "bytes"),
    ]
    headers += [(name.title(), value) for name, value in (info.headers or {}).items()]
    headers += [(META_PREFIX + k, v) for k, v in sorted((info.user_metadata or {}).items())]
    return headers


def with_overrides(
    headers: list[tuple[str, str]], query: Mapping[str, str]
) -> list[tuple[str, str]]:
    """The response-* query parameters replace the headers they name."""
    replaced = {OVERRIDES[k]: v for k, v in query.items() if k in OVERRIDES}
    if not replaced:
        return headers
    lowered = {name.lower() for name in replaced}
    kept = [(k, v) for k, v in headers if k.lower() not in lowered]
    return kept + list(replaced.items())
