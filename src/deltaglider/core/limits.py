"""S3's limits on one object (its key and its user metadata) and on bucket names.

Every store here enforces them as S3 does (moto and the filesystem would otherwise take
what S3 refuses), and the format is written to fit them whatever the key (docs/FORMAT.md
section 3).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from deltaglider.core.errors import InvalidBucketName, KeyTooLong, MetadataTooLarge

KEY_LIMIT = 1024  # bytes of a key's UTF-8
METADATA_LIMIT = 2048  # bytes of user metadata in one object
# AWS counts each entry's key and value; counting the header prefix too keeps a margin.
METADATA_HEADER = "x-amz-meta-"
# S3's rules for a new general-purpose bucket: 3 to 63 lowercase letters, digits, dots and
# hyphens, a letter or digit at each end, no two dots side by side, not an IP address,
# and none of the prefixes and suffixes S3 keeps for itself.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_RESERVED = (("xn--", "sthree-", "amzn-s3-demo-"), ("-s3alias", "--ol-s3", "--x-s3"))


def key_size(key: str) -> int:
    """Bytes of the key's UTF-8 (a lone surrogate, from an undecodable file name, as 3)."""
    return len(key.encode("utf-8", "surrogatepass"))


def fits_key(key: str) -> bool:
    return key_size(key) <= KEY_LIMIT


def metadata_size(metadata: Mapping[str, str]) -> int:
    """The user metadata's size as measured against METADATA_LIMIT."""
    return sum(len(f"{METADATA_HEADER}{k}{v}".encode()) for k, v in metadata.items())


def check_put(bucket: str, key: str, metadata: Mapping[str, str]) -> None:
    """Refuse, as S3 does, a PUT of a key or user metadata over S3's limits."""
    if not fits_key(key):
        raise KeyTooLong(bucket, key)
    if metadata_size(metadata) > METADATA_LIMIT:
        raise MetadataTooLarge(bucket, key)


def check_bucket_name(bucket: str) -> None:
    """Refuse, as S3 does, to create a bucket under a name S3 does not allow."""
    prefixes, suffixes = _RESERVED
    if (
        not _BUCKET_NAME.fullmatch(bucket)
        or ".." in bucket
        or _IP_ADDRESS.fullmatch(bucket)
        or bucket.startswith(prefixes)
        or bucket.endswith(suffixes)
    ):
        raise InvalidBucketName(bucket, operation="CreateBucket")
