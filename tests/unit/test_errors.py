"""The error tree: each error carries S3's code, HTTP status and message as data, the
tree in the module's docstring says the same, and `str()` is one line for a person."""

from __future__ import annotations

import inspect
import re

import pytest

from deltaglider.core import errors
from deltaglider.core.errors import (
    INTERNAL_ERROR,
    AccessDenied,
    AlreadyExists,
    BucketExists,
    BucketNotEmpty,
    BucketNotFound,
    ConfigError,
    CredentialsError,
    DeltaGliderError,
    DiffError,
    DiffToolMissing,
    EndpointError,
    FormatError,
    IntegrityError,
    InvalidBucketName,
    InvalidKeyError,
    KeyTooLong,
    LocalFileError,
    MetadataTooLarge,
    ObjectChanged,
    ObjectNotFound,
    ReferenceMissing,
    StorageError,
)

PRECONDITION = "At least one of the pre-conditions you specified did not hold"
NO_BUCKET = "The specified bucket does not exist"
NO_KEY = "The specified key does not exist."
BAD_BUCKET = "The specified bucket is not valid."
TOO_LARGE = "Your metadata headers exceed the maximum allowed metadata size"
NOT_EMPTY = "The bucket you tried to delete is not empty"
OWNED = "Your previous request to create the named bucket succeeded and you already own it."


@pytest.mark.parametrize(
    ("error", "code", "status", "message", "operation"),
    [
        (BucketNotFound("b"), "NoSuchBucket", 404, NO_BUCKET, "HeadBucket"),
        (BucketNotFound("b", "PutObject"), "NoSuchBucket", 404, NO_BUCKET, "PutObject"),
        (ObjectNotFound("b", "k"), "NoSuchKey", 404, NO_KEY, "HeadObject"),
        (ObjectNotFound("b", "k", "GetObject"), "NoSuchKey", 404, NO_KEY, "GetObject"),
        (KeyTooLong("b", "k"), "KeyTooLongError", 400, "Your key is too long", "PutObject"),
        (InvalidBucketName("B!"), "InvalidBucketName", 400, BAD_BUCKET, None),
        (InvalidKeyError("a//b"), "InvalidArgument", 400, None, None),
        (MetadataTooLarge("b", "k"), "MetadataTooLarge", 400, TOO_LARGE, "PutObject"),
        (BucketNotEmpty("b"), "BucketNotEmpty", 409, NOT_EMPTY, "DeleteBucket"),
        (BucketExists("b"), "BucketAlreadyOwnedByYou", 409, OWNED, "CreateBucket"),
        (AlreadyExists("b", "k"), "PreconditionFailed", 412, PRECONDITION, "PutObject"),
        (ObjectChanged("b", "k"), "PreconditionFailed", 412, PRECONDITION, "GetObject"),
        (AccessDenied("no"), "AccessDenied", 403, "Access Denied", None),
        (CredentialsError("none found"), "AccessDenied", 403, "Access Denied", None),
        (EndpointError("no route"), "ServiceUnavailable", 503, None, None),
        (StorageError("gave up"), "InternalError", 500, INTERNAL_ERROR, None),
        (IntegrityError("bad bytes"), "InternalError", 500, INTERNAL_ERROR, None),
        (ReferenceMissing("b", "p/reference.bin"), "InternalError", 500, INTERNAL_ERROR, None),
        (FormatError("bad metadata"), "InternalError", 500, INTERNAL_ERROR, None),
        (DiffError("failed"), "InternalError", 500, INTERNAL_ERROR, None),
        (DiffToolMissing("not installed"), "InternalError", 500, INTERNAL_ERROR, None),
        (LocalFileError("cannot read x"), "InternalError", 500, INTERNAL_ERROR, None),
        (ConfigError("bad setting"), "InternalError", 500, INTERNAL_ERROR, None),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_each_error_carries_s3s_code_status_and_message(
    error: DeltaGliderError, code: str, status: int, message: str | None, operation: str | None
) -> None:
    assert (error.code, error.status, error.message, error.operation) == (
        code,
        status,
        message,
        operation,
    )
    assert "\n" not in str(error)
    assert "An error occurred" not in str(error)


def test_the_location_is_data_and_part_of_the_line() -> None:
    missing = ObjectNotFound("releases", "app-1.0.zip")
    assert (missing.bucket, missing.key, missing.location) == (
        "releases",
        "app-1.0.zip",
        "s3://releases/app-1.0.zip",
    )
    assert str(missing) == f"s3://releases/app-1.0.zip: {NO_KEY} (NoSuchKey)"
    assert str(BucketNotEmpty("releases")) == f"s3://releases: {NOT_EMPTY} (BucketNotEmpty)"
    assert ReferenceMissing("r", "p/reference.bin").location == "s3://r/p/reference.bin"
    assert ConfigError("x").location is None


def test_deltagliders_own_account_is_the_line_when_there_is_one() -> None:
    assert str(LocalFileError("cannot read a.zip: Permission denied")) == (
        "cannot read a.zip: Permission denied"
    )
    assert str(AlreadyExists("b", "k")) == "s3://b/k already exists"
    assert AlreadyExists("b", "k").detail == "s3://b/k already exists"
    assert BucketNotFound("b").detail is None  # S3's answer, nothing more


def test_a_stores_own_answer_overrides_the_class() -> None:
    slow = "Please reduce your request rate."
    throttled = StorageError(code="SlowDown", status=503, message=slow, operation="PutObject")
    assert (throttled.code, throttled.status, throttled.message) == ("SlowDown", 503, slow)
    assert str(throttled) == f"{slow} (SlowDown)"
    rejected = CredentialsError("rejected", code="InvalidAccessKeyId", status=403)
    assert (rejected.code, rejected.message) == ("InvalidAccessKeyId", None)  # none was sent
    assert BucketNotFound("b", message="Bucket gone").message == "Bucket gone"


def test_a_store_that_sends_no_message_is_explained_by_the_http_status() -> None:
    """Ceph RGW answers some refusals with a code and an empty message."""
    error = StorageError(bucket="b", key="k", code="InvalidObjectName", status=400, message=None)
    assert error.message is None
    assert error.explanation == "Bad Request"
    assert str(error) == "s3://b/k: Bad Request (InvalidObjectName)"
    assert StorageError(code="Odd", status=599).explanation == "HTTP 599"


def test_the_tree_in_the_docstring_names_every_class_with_its_status_and_code() -> None:
    drawn = {
        name: (int(status), code)
        for name, status, code in re.findall(r"(\w+)\s+(\d{3}) (\w+)", errors.__doc__ or "")
    }
    classes = {
        name: (cls.status, cls.code)
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, DeltaGliderError)
    }
    assert drawn == classes
