"""S3's error answers, as the client hands them to botocore to raise.

An S3 error is a code, an HTTP status, a message and, for some codes, more fields
(NoSuchKey names the Key, NoSuchBucket the BucketName, InvalidRange the range asked
for and the object's size...). botocore turns the answer into the ClientError subclass
its exception factory has for the code, so `client.exceptions.NoSuchKey` catches it as
it catches boto3's. An answer to a HEAD, or a 304, has no body: botocore then shows
the status as the code and its phrase as the message, and so do these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus

from deltaglider.core.errors import (
    BucketExists,
    BucketNotEmpty,
    BucketNotFound,
    DeltaGliderError,
    InvalidBucketName,
    ObjectNotFound,
)

PRECONDITION = "At least one of the pre-conditions you specified did not hold"
_INTERNAL = (500, 503)


@dataclass
class S3Failure(Exception):
    """An error answer: what botocore raises as a ClientError."""

    status: int
    code: str
    message: str
    extra: dict[str, str] = field(default_factory=dict)

    def fields(self, *, bodiless: bool) -> dict[str, str]:
        """The `Error` of the parsed response."""
        if bodiless:
            return {"Code": str(self.status), "Message": HTTPStatus(self.status).phrase}
        return {"Code": self.code, "Message": self.message} | self.extra

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def no_such_key(key: str) -> S3Failure:
    return S3Failure(404, "NoSuchKey", "The specified key does not exist.", {"Key": key})


def no_such_bucket(bucket: str) -> S3Failure:
    return S3Failure(
        404, "NoSuchBucket", "The specified bucket does not exist", {"BucketName": bucket}
    )


def not_modified() -> S3Failure:
    return S3Failure(304, "NotModified", "Not Modified")


def precondition_failed(condition: str) -> S3Failure:
    return S3Failure(412, "PreconditionFailed", PRECONDITION, {"Condition": condition})


def invalid_range(requested: str, size: int) -> S3Failure:
    return S3Failure(
        416,
        "InvalidRange",
        "The requested range is not satisfiable",
        {"RangeRequested": requested, "ActualObjectSize": str(size)},
    )


def invalid_argument(message: str, name: str, value: str) -> S3Failure:
    return S3Failure(
        400, "InvalidArgument", message, {"ArgumentName": name, "ArgumentValue": value}
    )


def invalid_request(message: str) -> S3Failure:
    return S3Failure(400, "InvalidRequest", message)


def not_implemented(message: str) -> S3Failure:
    """A call or argument DeltaGlider's client does not serve, and why (S3's code for a
    header that implies functionality it does not implement)."""
    return S3Failure(501, "NotImplemented", message)


def from_core(exc: DeltaGliderError, bucket: str | None, key: str | None) -> S3Failure:
    """The S3 error for one of DeltaGlider's, naming the bucket and the logical key the
    caller asked for (never a stored key such as `K.delta`)."""
    if isinstance(exc, BucketNotFound):
        return no_such_bucket(bucket or exc.bucket or "")
    if isinstance(exc, ObjectNotFound) and key is not None:
        return no_such_key(key)
    message = exc.explanation
    if exc.status in _INTERNAL and exc.detail:
        message = f"{message} ({exc.detail})"  # what went wrong here, not only "try again"
    extra = {}
    if isinstance(exc, BucketNotEmpty | BucketExists | InvalidBucketName):
        extra["BucketName"] = bucket or exc.bucket or ""
    return S3Failure(exc.status, exc.code, message, extra)
