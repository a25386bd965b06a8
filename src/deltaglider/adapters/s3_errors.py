"""S3's errors, as botocore raises them, turned into DeltaGlider's: one readable line
each, S3's code, status and message kept."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from deltaglider.core.errors import (
    AccessDenied,
    AlreadyExists,
    BucketExists,
    BucketNotEmpty,
    BucketNotFound,
    CredentialsError,
    DeltaGliderError,
    EndpointError,
    InvalidBucketName,
    KeyTooLong,
    MetadataTooLarge,
    ObjectChanged,
    ObjectNotFound,
    StorageError,
)

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
# Requests whose If-Match (a copy's: x-amz-copy-source-if-match) names one version to read.
_READS_OF_A_VERSION = {"GetObject", "HeadObject", "CopyObject", "UploadPartCopy"}
_BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}


@contextmanager
def mapped(bucket: str, key: str | None = None) -> Iterator[None]:
    """Turn botocore's exceptions into DeltaGlider's, with one readable line each."""
    try:
        yield
    except DeltaGliderError:
        raise
    except S3UploadFailedError as exc:
        cause = exc.__context__
        if isinstance(cause, ClientError):
            raise from_client_error(cause, bucket, key) from None
        raise StorageError(str(exc)) from None
    except ClientError as exc:
        raise from_client_error(exc, bucket, key) from None
    except (NoCredentialsError, PartialCredentialsError):
        raise CredentialsError(
            "Unable to locate credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or configure a profile with `aws configure`"
        ) from None
    except (EndpointConnectionError, ConnectionError) as exc:
        raise EndpointError(str(exc)) from None
    except BotoCoreError as exc:
        raise StorageError(str(exc)) from None


def from_client_error(exc: ClientError, bucket: str, key: str | None) -> DeltaGliderError:
    """S3's answer as DeltaGlider's error, keeping S3's code, status and message."""
    error = exc.response.get("Error", {})
    answer = exc.response.get("ResponseMetadata", {})
    status = int(answer.get("HTTPStatusCode") or 500)
    headers = answer.get("HTTPHeaders", {})
    if "text/html" in headers.get("content-type", "") and not any(
        name.startswith("x-amz") for name in headers
    ):
        # S3 answers in XML (or, to a HEAD, with no body) and with its request id: a web
        # page without one is some other server.
        return EndpointError(
            f"The endpoint is not an S3 service: it answered {exc.operation_name} with an "
            f"HTML page (HTTP {status}); check --endpoint-url"
        )
    return from_code(
        str(error.get("Code") or ""),
        error.get("Message") or None,
        status,
        exc.operation_name,
        bucket,
        key,
    )


def from_code(
    code: str, said: str | None, status: int, operation: str, bucket: str, key: str | None
) -> DeltaGliderError:
    """The error for S3's code, of a whole request or of one key in DeleteObjects. A
    HEAD's answer has no body: botocore gives the status as the code ("404") and its
    phrase as the message, so those take the class's own code and message."""
    message = None if code.isdigit() else said
    if code == "NoSuchBucket" or (code in _NOT_FOUND and operation == "HeadBucket"):
        return BucketNotFound(bucket, operation, message=message)
    if code == "BucketNotEmpty":
        return BucketNotEmpty(bucket, message=message)
    if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
        return BucketExists(bucket, code=code, message=message)
    if code in ("PreconditionFailed", "412"):
        # A read's If-Match found another version; a write's If-None-Match found the key.
        if operation in _READS_OF_A_VERSION:
            return ObjectChanged(bucket, key or "", operation, message=message)
        return AlreadyExists(bucket, key or "", operation, message=message)
    if code in _NOT_FOUND:
        return ObjectNotFound(bucket, key or "", operation, message=message)
    if code == "KeyTooLongError":
        return KeyTooLong(bucket, key or "", operation, message=message)
    if code == "MetadataTooLarge":
        return MetadataTooLarge(bucket, key or "", operation, message=message)
    if code == "InvalidBucketName":
        return InvalidBucketName(bucket, operation=operation, message=message)
    if code in _BAD_CREDENTIALS:
        return CredentialsError(
            f"The store rejected the credentials ({code})" + (f": {said}" if said else ""),
            bucket=bucket,
            key=key,
            operation=operation,
            code=code,
            status=status,
            message=message,
        )
    if code in ("403", "AccessDenied", "Forbidden"):
        return AccessDenied(
            f"Access denied ({operation} on s3://{bucket}/{key or ''})",
            bucket=bucket,
            key=key,
            operation=operation,
            message=message,
        )
    return StorageError(
        bucket=bucket,
        key=key,
        operation=operation,
        code=code or str(status),
        status=status,
        message=message,
    )
