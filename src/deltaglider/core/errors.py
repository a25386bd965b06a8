"""The one error tree of DeltaGlider. Adapters map outside exceptions onto it.

Every error carries, as data, what an S3 client would be told: `code` (S3's Error.Code),
`status` (the HTTP status), `message` (the message S3 sends with that code; None where
S3 has no fixed one), and when known the `operation` (the S3 call it stands for), the
`bucket` and the `key`. `detail` is DeltaGlider's own account, for errors that have more
to say than S3's code and message (a local path, a SHA256, what was being done). How an
entry point words an error is its own business: the CLI as the AWS CLI prints it, a
gateway as S3's XML, a client as botocore's ClientError.

    DeltaGliderError            500 InternalError       anything else that went wrong
    ├── ConfigError             500 InternalError       an invalid setting
    ├── InvalidKeyError         400 InvalidArgument     a key the store cannot hold
    │   ├── InvalidBucketName   400 InvalidBucketName   a bucket name the store cannot hold
    │   └── KeyTooLong          400 KeyTooLongError     a key over S3's 1,024 bytes
    ├── LocalFileError          500 InternalError       a local file not readable or writable
    ├── NotFoundError           404 NoSuchKey           something asked for is not there
    │   ├── BucketNotFound      404 NoSuchBucket
    │   ├── ObjectNotFound      404 NoSuchKey
    │   └── UploadNotFound      404 NoSuchUpload        a multipart upload not (or no longer) there
    ├── StorageError            500 InternalError       the store failed or refused (its code)
    │   ├── BucketNotEmpty      409 BucketNotEmpty
    │   ├── BucketExists        409 BucketAlreadyOwnedByYou (or the store's BucketAlreadyExists)
    │   ├── AlreadyExists       412 PreconditionFailed  a create-only write found the key taken
    │   ├── MetadataTooLarge    400 MetadataTooLarge    user metadata over S3's 2 KB
    │   ├── ObjectChanged       412 PreconditionFailed  a read for one version found another
    │   ├── AccessDenied        403 AccessDenied
    │   ├── CredentialsError    403 AccessDenied        no credentials, or rejected (its code)
    │   └── EndpointError       503 ServiceUnavailable  the endpoint cannot be reached
    ├── IntegrityError          500 InternalError       bytes that do not match their SHA256
    │   ├── ReferenceMissing    500 InternalError       a delta's reference is not in the store
    │   └── ReferenceChanged    500 InternalError       a reference's key holds other bytes
    ├── FormatError             500 InternalError       stored metadata that cannot be understood
    ├── RequestError            400 InvalidRequest      a request that cannot be served as asked
    │   ├── IncompleteBody      400 IncompleteBody      a body not of its declared size
    │   ├── BadDigest           400 BadDigest           a body whose MD5 is not the one sent
    │   ├── InvalidRange        416 InvalidRange        a byte range outside the object
    │   └── InvalidPart         400 InvalidPart         a multipart upload's part list that does not
    │                                                   hold (or InvalidPartOrder, EntityTooSmall)
    └── DiffError               500 InternalError       the delta codec failed
        └── DiffToolMissing     500 InternalError       the codec's program is not installed
            └── DeflateMissing  500 InternalError       no deflate that rebuilds recipes' bytes

Errors about this machine (settings, local files, the codec) and about damaged stored
data are, to a client, the server's fault: InternalError, 500. `str(error)` is one line
for a person: the detail, else where and what (`s3://b/k: <message> (<code>)`).
"""

from __future__ import annotations

from http import HTTPStatus

INTERNAL_ERROR = "We encountered an internal error. Please try again."


class DeltaGliderError(Exception):
    """Base of every error DeltaGlider raises on purpose."""

    code: str = "InternalError"
    status: int = 500
    message: str | None = INTERNAL_ERROR

    def __init__(
        self,
        detail: str | None = None,
        *,
        bucket: str | None = None,
        key: str | None = None,
        operation: str | None = None,
        code: str | None = None,
        status: int | None = None,
        message: str | None = None,
    ) -> None:
        """The class gives code, status and message; a store's own answer overrides
        them. A code given without a message means the store sent none."""
        if code is not None:
            self.code, self.message = code, message
        elif message is not None:
            self.message = message
        if status is not None:
            self.status = status
        self.detail = detail
        self.bucket = bucket
        self.key = key
        self.operation = operation
        super().__init__(detail if detail is not None else self._summary())

    @property
    def location(self) -> str | None:
        """`s3://bucket/key` or `s3://bucket`, when known."""
        if self.bucket is None:
            return None
        return f"s3://{self.bucket}/{self.key}" if self.key is not None else f"s3://{self.bucket}"

    @property
    def explanation(self) -> str:
        """S3's message, or the HTTP status's own phrase when the store sent none."""
        if self.message:
            return self.message
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return f"HTTP {self.status}"

    def _summary(self) -> str:
        where = self.location
        said = f"{self.explanation} ({self.code})"
        return f"{where}: {said}" if where else said


class ConfigError(DeltaGliderError):
    """A setting has a value DeltaGlider cannot use."""


class InvalidKeyError(DeltaGliderError):
    """A bucket name or key that the store cannot hold or that would escape it."""

    code = "InvalidArgument"
    status = 400
    message: str | None = None  # S3's InvalidArgument messages name the argument


class InvalidBucketName(InvalidKeyError):
    """A bucket name the store cannot hold."""

    code = "InvalidBucketName"
    message = "The specified bucket is not valid."

    def __init__(
        self,
        bucket: str,
        detail: str | None = None,
        *,
        operation: str | None = None,
        message: str | None = None,
    ) -> None:
        super().__init__(detail, bucket=bucket, operation=operation, message=message)


class KeyTooLong(InvalidKeyError):
    """A key over S3's limit of 1,024 bytes of UTF-8."""

    code = "KeyTooLongError"
    message = "Your key is too long"

    def __init__(
        self, bucket: str, key: str, operation: str = "PutObject", *, message: str | None = None
    ) -> None:
        super().__init__(bucket=bucket, key=key, operation=operation, message=message)


class LocalFileError(DeltaGliderError):
    """A local file or directory that is missing, unreadable or unwritable."""


class NotFoundError(DeltaGliderError):
    """Something asked for is not there."""

    code = "NoSuchKey"
    status = 404
    message = "The specified key does not exist."


class BucketNotFound(NotFoundError):
    """The bucket does not exist."""

    code = "NoSuchBucket"
    message = "The specified bucket does not exist"

    def __init__(
        self, bucket: str, operation: str = "HeadBucket", *, message: str | None = None
    ) -> None:
        super().__init__(bucket=bucket, operation=operation, message=message)


class ObjectNotFound(NotFoundError):
    """No object (logical or stored) under this key. `operation` is HeadObject for a
    lookup, GetObject for a read that found nothing."""

    def __init__(
        self, bucket: str, key: str, operation: str = "HeadObject", *, message: str | None = None
    ) -> None:
        super().__init__(bucket=bucket, key=key, operation=operation, message=message)


class UploadNotFound(NotFoundError):
    """No multipart upload with this id for this key: never begun, completed or aborted."""

    code = "NoSuchUpload"
    message = (
        "The specified upload does not exist. The upload ID may be invalid, or the upload "
        "may have been aborted or completed."
    )

    def __init__(self, bucket: str, key: str, upload_id: str) -> None:
        super().__init__(f"s3://{bucket}/{key}: no multipart upload {upload_id}",
                         bucket=bucket, key=key)  # fmt: skip
        self.upload_id = upload_id


class StorageError(DeltaGliderError):
    """The store failed or refused an operation; when it answered with an S3 error that
    has no class here, its code, status and message are kept."""


class BucketNotEmpty(StorageError):
    """A bucket that still holds objects cannot be removed."""

    code = "BucketNotEmpty"
    status = 409
    message = "The bucket you tried to delete is not empty"

    def __init__(self, bucket: str, *, message: str | None = None) -> None:
        super().__init__(bucket=bucket, operation="DeleteBucket", message=message)


class BucketExists(StorageError):
    """Creating a bucket that exists: the caller's own (BucketAlreadyOwnedByYou), or, as
    a store may say, someone else's (BucketAlreadyExists)."""

    code = "BucketAlreadyOwnedByYou"
    status = 409
    message = "Your previous request to create the named bucket succeeded and you already own it."

    def __init__(self, bucket: str, *, code: str | None = None, message: str | None = None) -> None:
        super().__init__(bucket=bucket, operation="CreateBucket", code=code, message=message)


class AlreadyExists(StorageError):
    """A write meant to create a new object found one there (If-None-Match: *)."""

    code = "PreconditionFailed"
    status = 412
    message = "At least one of the pre-conditions you specified did not hold"

    def __init__(
        self, bucket: str, key: str, operation: str = "PutObject", *, message: str | None = None
    ) -> None:
        super().__init__(
            f"s3://{bucket}/{key} already exists",
            bucket=bucket,
            key=key,
            operation=operation,
            message=message,
        )


class MetadataTooLarge(StorageError):
    """User metadata over S3's limit of 2 KB."""

    code = "MetadataTooLarge"
    status = 400
    message = "Your metadata headers exceed the maximum allowed metadata size"

    def __init__(
        self, bucket: str, key: str, operation: str = "PutObject", *, message: str | None = None
    ) -> None:
        super().__init__(bucket=bucket, key=key, operation=operation, message=message)


class ObjectChanged(StorageError):
    """A download asked for one version (If-Match on its ETag) and the key holds another."""

    code = "PreconditionFailed"
    status = 412
    message = "At least one of the pre-conditions you specified did not hold"

    def __init__(
        self, bucket: str, key: str, operation: str = "GetObject", *, message: str | None = None
    ) -> None:
        super().__init__(
            f"s3://{bucket}/{key} was overwritten while being read",
            bucket=bucket,
            key=key,
            operation=operation,
            message=message,
        )


class AccessDenied(StorageError):
    """The credentials are valid but not allowed to do this."""

    code = "AccessDenied"
    status = 403
    message = "Access Denied"


class CredentialsError(StorageError):
    """No credentials were found (S3 answers a request without any AccessDenied), or the
    store does not accept them (its code: InvalidAccessKeyId, SignatureDoesNotMatch...)."""

    code = "AccessDenied"
    status = 403
    message = "Access Denied"


class EndpointError(StorageError):
    """The storage endpoint could not be reached: no answer, so no message from it."""

    code = "ServiceUnavailable"
    status = 503
    message = None


class IntegrityError(DeltaGliderError):
    """Bytes that do not match the SHA256 recorded for them."""


class ReferenceMissing(IntegrityError):
    """The reference a delta was made against is not in the store."""

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(
            f"reference s3://{bucket}/{key} is missing: its deltas cannot be rebuilt",
            bucket=bucket,
            key=key,
        )


class ReferenceChanged(IntegrityError):
    """The reference at a key is not the one asked for (its SHA256 differs): damaged, or
    removed and another written there since it was listed."""


class FormatError(DeltaGliderError):
    """Stored metadata that is missing, malformed, or from an unknown format version."""


class DiffError(DeltaGliderError):
    """The delta codec failed to encode or decode."""


class DiffToolMissing(DiffError):
    """The program behind the delta codec is missing or unusable."""


class DeflateMissing(DiffToolMissing):
    """Deflate streams to rebuild with classic zlib, on a machine without it (its Python
    links zlib-ng or another fork, which gives other bytes): not damage, the machine."""


class RequestError(DeltaGliderError):
    """A request that cannot be served as it was asked."""

    code = "InvalidRequest"
    status = 400
    message: str | None = None


class IncompleteBody(RequestError):
    """The body that arrived is not the size it was declared to be."""

    code = "IncompleteBody"
    message = "You did not provide the number of bytes specified by the Content-Length HTTP header."

    def __init__(self, declared: int, received: int) -> None:
        super().__init__(
            f"the body was declared as {declared} bytes and {received} arrived: nothing stored"
        )
        self.declared = declared
        self.received = received


class BadDigest(RequestError):
    """The MD5 sent with a body (Content-MD5) is not the body's."""

    code = "BadDigest"
    message = "The Content-MD5 you specified did not match what we received."

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(
            f"the body's MD5 is {actual}, not the {expected} sent with it: nothing stored"
        )


class InvalidRange(RequestError):
    """A byte range that starts past the end of the object."""

    code = "InvalidRange"
    status = 416
    message = "The requested range is not satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"the requested range is not satisfiable (the object has {size} bytes)")
        self.size = size


class InvalidPart(RequestError):
    """A multipart upload completed with parts that are not its own: a part missing or
    not of the ETag given (InvalidPart), out of order (InvalidPartOrder), or smaller
    than S3's 5 MiB before the last (EntityTooSmall)."""

    code = "InvalidPart"
    message = (
        "One or more of the specified parts could not be found. The part may not have "
        "been uploaded, or the specified entity tag may not match the part's entity tag."
    )

    def __init__(self, detail: str, *, code: str | None = None, message: str | None = None) -> None:
        super().__init__(detail, code=code, message=message)
