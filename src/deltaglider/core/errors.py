"""The one error tree of DeltaGlider. Adapters map outside exceptions onto it.

    DeltaGliderError
    ├── ConfigError            an invalid setting (environment variable or flag)
    ├── InvalidKeyError        a key or bucket name the store cannot hold
    │   └── KeyTooLong         a key over S3's 1,024 bytes
    ├── LocalFileError         a local file that cannot be read or written
    ├── NotFoundError
    │   ├── BucketNotFound
    │   └── ObjectNotFound
    ├── StorageError           the store failed or refused
    │   ├── BucketNotEmpty
    │   ├── AlreadyExists      a create-only write found the key taken
    │   ├── MetadataTooLarge   user metadata over S3's 2 KB
    │   ├── ObjectChanged      a read for one version of an object found another there
    │   ├── AccessDenied
    │   ├── CredentialsError   no credentials, or credentials the store rejects
    │   └── EndpointError      the endpoint cannot be reached
    ├── IntegrityError         bytes that do not match their recorded SHA256
    │   └── ReferenceMissing   a delta's reference is not in the store
    ├── FormatError            stored metadata that cannot be understood
    ├── RequestError           a request that cannot be served as asked
    │   ├── IncompleteBody     a body shorter or longer than its declared size
    │   ├── BadDigest          a body whose MD5 is not the one sent with it
    │   └── InvalidRange       a byte range outside the object
    └── DiffError              the delta codec failed
        └── DiffToolMissing    the codec's program is not installed

Every message is one line meant for the person at the terminal.
"""

from __future__ import annotations


class DeltaGliderError(Exception):
    """Base of every error DeltaGlider raises on purpose."""


class ConfigError(DeltaGliderError):
    """A setting has a value DeltaGlider cannot use."""


class InvalidKeyError(DeltaGliderError):
    """A bucket name or key that the store cannot hold or that would escape it."""


class LocalFileError(DeltaGliderError):
    """A local file or directory that is missing, unreadable or unwritable."""


class NotFoundError(DeltaGliderError):
    """Something asked for is not there."""


def _aws_wording(code: str, operation: str, message: str) -> str:
    """Errors read as the AWS CLI prints them, whichever backend raised them."""
    return f"An error occurred ({code}) when calling the {operation} operation: {message}"


class BucketNotFound(NotFoundError):
    """The bucket does not exist."""

    def __init__(self, bucket: str, operation: str = "HeadBucket") -> None:
        super().__init__(
            _aws_wording("NoSuchBucket", operation, "The specified bucket does not exist")
        )
        self.bucket = bucket


class ObjectNotFound(NotFoundError):
    """No object (logical or stored) under this key."""

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(_aws_wording("404", "HeadObject", f'Key "{key}" does not exist'))
        self.bucket = bucket
        self.key = key


class KeyTooLong(InvalidKeyError):
    """A key over S3's limit of 1,024 bytes of UTF-8."""

    def __init__(self, bucket: str, key: str, operation: str = "PutObject") -> None:
        super().__init__(_aws_wording("KeyTooLongError", operation, "Your key is too long"))
        self.bucket = bucket
        self.key = key


class StorageError(DeltaGliderError):
    """The store failed or refused an operation."""


class BucketNotEmpty(StorageError):
    """A bucket that still holds objects cannot be removed."""

    def __init__(self, bucket: str) -> None:
        super().__init__(
            _aws_wording(
                "BucketNotEmpty", "DeleteBucket", "The bucket you tried to delete is not empty"
            )
        )
        self.bucket = bucket


class AlreadyExists(StorageError):
    """A write meant to create a new object found one there (If-None-Match: *)."""

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"s3://{bucket}/{key} already exists")
        self.bucket = bucket
        self.key = key


class MetadataTooLarge(StorageError):
    """User metadata over S3's limit of 2 KB."""

    def __init__(self, bucket: str, key: str, operation: str = "PutObject") -> None:
        super().__init__(
            _aws_wording(
                "MetadataTooLarge",
                operation,
                "Your metadata headers exceed the maximum allowed metadata size",
            )
        )
        self.bucket = bucket
        self.key = key


class ObjectChanged(StorageError):
    """A download asked for one version (If-Match on its ETag) and the key holds another."""

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"s3://{bucket}/{key} was overwritten while being read")
        self.bucket = bucket
        self.key = key


class AccessDenied(StorageError):
    """The credentials are valid but not allowed to do this."""


class CredentialsError(StorageError):
    """No credentials were found, or the store does not accept them."""


class EndpointError(StorageError):
    """The storage endpoint could not be reached."""


class IntegrityError(DeltaGliderError):
    """Bytes that do not match the SHA256 recorded for them."""


class ReferenceMissing(IntegrityError):
    """The reference a delta was made against is not in the store."""

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"reference s3://{bucket}/{key} is missing: its deltas cannot be rebuilt")
        self.bucket = bucket
        self.key = key


class FormatError(DeltaGliderError):
    """Stored metadata that is missing, malformed, or from an unknown format version."""


class DiffError(DeltaGliderError):
    """The delta codec failed to encode or decode."""


class DiffToolMissing(DiffError):
    """The program behind the delta codec is missing or unusable."""


class RequestError(DeltaGliderError):
    """A request that cannot be served as it was asked."""


class IncompleteBody(RequestError):
    """The body that arrived is not the size it was declared to be."""

    def __init__(self, declared: int, received: int) -> None:
        super().__init__(
            f"the body was declared as {declared} bytes and {received} arrived: nothing stored"
        )
        self.declared = declared
        self.received = received


class BadDigest(RequestError):
    """The MD5 sent with a body (Content-MD5) is not the body's."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(
            f"the body's MD5 is {actual}, not the {expected} sent with it: nothing stored"
        )


class InvalidRange(RequestError):
    """A byte range that starts past the end of the object."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the requested range is not satisfiable (the object has {size} bytes)")
        self.size = size
