"""S3's refusals that no server here gives keep S3's code, status and message through
the S3 adapter, and read as the AWS CLI prints them (or as DeltaGlider words them).

The answers are injected with a botocore event hook on a real client talking to moto:
a mock of a kind, used because no server here gives them (moto checks neither the
limits nor credentials and never throttles; Ceph RGW sends no message with its codes,
says InvalidObjectName for a long key, and takes any metadata that fits its headers).
The client makes one attempt only, so a 5xx is not retried.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from deltaglider.adapters.s3 import S3Storage
from deltaglider.app.cli.aws_errors import error_line
from deltaglider.core.errors import (
    AccessDenied,
    CredentialsError,
    DeltaGliderError,
    KeyTooLong,
    MetadataTooLarge,
    StorageError,
)
from tests.conftest import Backend, make_backend


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


def answering(backend: Backend, operation: str, status: int, body: bytes) -> S3Storage:
    """An S3Storage on moto whose `operation` calls get this answer, tried once."""
    client = boto3.client(
        "s3",
        endpoint_url=backend.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )

    def refuse(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, status, {}, _Body(body))

    client.meta.events.register_first(f"before-send.s3.{operation}", refuse)
    return S3Storage(client)


def s3_error(code: str, message: str | None) -> bytes:
    said = "<Message></Message>" if message is None else f"<Message>{message}</Message>"
    return f"<Error><Code>{code}</Code>{said}</Error>".encode()


@pytest.fixture
def moto(tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Backend:
    return make_backend("moto", tmp_path, moto_endpoint, monkeypatch)


def refused_put(backend: Backend, tmp_path: Path, status: int, body: bytes) -> DeltaGliderError:
    storage = answering(backend, "PutObject", status, body)
    (tmp_path / "data").write_bytes(b"payload")
    with pytest.raises(DeltaGliderError) as raised:
        storage.upload(backend.bucket, "k", tmp_path / "data", {})
    return raised.value


@pytest.mark.parametrize(
    ("status", "code", "message", "kind", "line"),
    [
        pytest.param(
            400,
            "KeyTooLongError",
            "Your key is too long",
            KeyTooLong,
            "An error occurred (KeyTooLongError) when calling the PutObject operation: "
            "Your key is too long",
            id="key-too-long",
        ),
        pytest.param(
            400,
            "MetadataTooLarge",
            "Your metadata headers exceed the maximum allowed metadata size",
            MetadataTooLarge,
            "An error occurred (MetadataTooLarge) when calling the PutObject operation: "
            "Your metadata headers exceed the maximum allowed metadata size",
            id="metadata-too-large",
        ),
        pytest.param(
            400,
            "InvalidObjectName",
            None,  # as Ceph RGW answers a key over its limit
            StorageError,
            "An error occurred (InvalidObjectName) when calling the PutObject operation: "
            "Bad Request",
            id="ceph-empty-message",
        ),
        pytest.param(
            503,
            "SlowDown",
            "Please reduce your request rate.",
            StorageError,
            "An error occurred (SlowDown) when calling the PutObject operation: "
            "Please reduce your request rate.",
            id="slow-down",
        ),
        pytest.param(
            403,
            "AccessDenied",
            "Access Denied",
            AccessDenied,
            "Access denied (PutObject on s3://BUCKET/k)",
            id="access-denied",
        ),
        pytest.param(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            CredentialsError,
            "The store rejected the credentials (InvalidAccessKeyId): "
            "The AWS Access Key Id you provided does not exist in our records.",
            id="unknown-key",
        ),
        pytest.param(
            403,
            "InvalidAccessKeyId",
            None,  # as Ceph RGW answers an unknown key
            CredentialsError,
            "The store rejected the credentials (InvalidAccessKeyId)",
            id="unknown-key-ceph",
        ),
        pytest.param(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
            CredentialsError,
            "The store rejected the credentials (SignatureDoesNotMatch): "
            "The request signature we calculated does not match the signature you provided.",
            id="bad-secret",
        ),
    ],
)
def test_a_refused_put_keeps_s3s_code_status_and_message(
    moto: Backend,
    tmp_path: Path,
    status: int,
    code: str,
    message: str | None,
    kind: type[DeltaGliderError],
    line: str,
) -> None:
    error = refused_put(moto, tmp_path, status, s3_error(code, message))

    assert type(error) is kind
    assert (error.code, error.status, error.message) == (code, status, message)
    assert (error.operation, error.bucket, error.key) == ("PutObject", moto.bucket, "k")
    assert "\n" not in str(error)
    assert "An error occurred" not in str(error)  # the AWS CLI's wording is the CLI's
    assert error_line(error) == line.replace("BUCKET", moto.bucket)


def test_a_head_refused_without_a_body_is_access_denied(moto: Backend) -> None:
    """A HEAD's answer has no body: botocore makes the status its code ("403"). The error
    has S3's code and message for it all the same, and is never taken for "absent"."""
    storage = answering(moto, "HeadObject", 403, b"")

    with pytest.raises(AccessDenied) as raised:
        storage.head(moto.bucket, "k")

    error = raised.value
    assert (error.code, error.status, error.message) == ("AccessDenied", 403, "Access Denied")
    assert (error.operation, error.key) == ("HeadObject", "k")


def test_a_server_error_past_the_retries_keeps_its_code(moto: Backend, tmp_path: Path) -> None:
    said = "We encountered an internal error. Please try again."
    storage = answering(moto, "GetObject", 500, s3_error("InternalError", said))

    with pytest.raises(StorageError) as raised:
        storage.download(moto.bucket, "k", tmp_path / "out")

    error = raised.value
    assert (error.code, error.status, error.operation) == ("InternalError", 500, "GetObject")
    assert error_line(error) == (
        f"An error occurred (InternalError) when calling the GetObject operation: {said}"
    )
