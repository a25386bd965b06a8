"""One call as botocore hands it over: the operation and its parameters, checked.

The parameters are boto3's own, after botocore validated them and its handlers
normalised them (a str or bytes Body made a file object, a CopySource dict made the
quoted header value, EncodingType=url set on listings). A parameter the client cannot
honour is refused with S3's NotImplemented and the reason, never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from botocore.utils import parse_to_aware_datetime

from deltaglider.app.client.failures import not_implemented
from deltaglider.core.models import ObjectKey

_KEEPS = "DeltaGlider keeps an object's Content-Type, metadata and headers, not this one"
_PRIVATE = "objects are stored private; a grant on a stored delta would not give its file"
_ENCRYPTION = "the store's default encryption applies; customer keys are not supported"
_CHECKSUMS = "DeltaGlider checks MD5 and SHA256 itself and keeps no other checksum"
_VERSIONS = "versions of stored objects are not versions of the logical ones"
_LOCKS = "retention acts on stored objects, and a delta's reference outlives them"
_OWNER = "the request goes to the store as DeltaGlider's own, without it"
WHY = {
    **dict.fromkeys(
        ("WebsiteRedirectLocation", "ResponseExpires"),
        _KEEPS,
    ),
    **dict.fromkeys(
        ("ACL", "GrantFullControl", "GrantRead", "GrantReadACP", "GrantWriteACP"), _PRIVATE
    ),
    **dict.fromkeys(
        ("ServerSideEncryption", "SSEKMSKeyId", "SSEKMSEncryptionContext", "BucketKeyEnabled",
         "SSECustomerAlgorithm", "SSECustomerKey", "SSECustomerKeyMD5",
         "CopySourceSSECustomerAlgorithm", "CopySourceSSECustomerKey",
         "CopySourceSSECustomerKeyMD5"),
        _ENCRYPTION,
    ),
    **dict.fromkeys(
        ("ChecksumAlgorithm", "ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME",
         "ChecksumSHA1", "ChecksumSHA256", "ChecksumType", "MpuObjectSize"),
        _CHECKSUMS,
    ),
    **dict.fromkeys(("VersionId", "MFA"), _VERSIONS),
    **dict.fromkeys(
        ("ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus",
         "BypassGovernanceRetention"),
        _LOCKS,
    ),
    **dict.fromkeys(("ExpectedBucketOwner", "ExpectedSourceBucketOwner", "RequestPayer"), _OWNER),
    "StorageClass": "objects are stored in the STANDARD class, which their references need",
    "Tagging": "tag the object with put_object_tagging once it is stored",
    "TaggingDirective": "tags are not copied; tag the copy with put_object_tagging",
    "PartNumber": "an object is read by byte range, not by the number of a part it came in",
    "IfMatch": "conditional writes are not supported for logical objects",
    "IfNoneMatch": "conditional writes are not supported for logical objects",
    "OptionalObjectAttributes": "listings carry no optional attributes",
}  # fmt: skip
# The parameters for the headers S3 keeps with an object, and those headers.
KEPT_PARAMETERS = {
    "CacheControl": "cache-control",
    "ContentDisposition": "content-disposition",
    "ContentEncoding": "content-encoding",
    "ContentLanguage": "content-language",
    "Expires": "expires",
}
# Values of these parameters that ask for what is done anyway.
HARMLESS: Mapping[str, object] = {"StorageClass": "STANDARD", "ACL": "private"}


@dataclass(frozen=True)
class Call:
    """An operation (S3's name: GetObject) and its parameters."""

    operation: str
    params: Mapping[str, Any]

    @property
    def bucket(self) -> str:
        return str(self.params.get("Bucket", ""))

    @property
    def key(self) -> str | None:
        key = self.params.get("Key")
        return None if key is None else str(key)

    @property
    def object_key(self) -> ObjectKey:
        return ObjectKey(self.bucket, str(self.params["Key"]))

    def text(self, name: str) -> str | None:
        value = self.params.get(name)
        return None if value is None else str(value)

    def time(self, name: str) -> datetime | None:
        value = self.params.get(name)
        return value if isinstance(value, datetime) else None

    def kept_headers(self) -> dict[str, str]:
        """The headers S3 keeps with an object, as this call gives them; Expires (a
        datetime, an ISO 8601 string or seconds) as the HTTP date botocore would send."""
        headers = {}
        for name, header in KEPT_PARAMETERS.items():
            value = self.params.get(name)
            if value is None:
                continue
            if name == "Expires":
                moment = parse_to_aware_datetime(value).astimezone(UTC)
                value = format_datetime(moment, usegmt=True)
            headers[header] = str(value)
        return headers

    def accept(self, *names: str) -> None:
        """Refuse any parameter besides `names` (and the harmless values of a few)."""
        allowed = frozenset(names)
        for name, value in self.params.items():
            if name in allowed or HARMLESS.get(name, ...) == value:
                continue
            why = WHY.get(name, "DeltaGlider's client does not implement it")
            raise not_implemented(f"{self.operation} with {name} is not supported: {why}")
