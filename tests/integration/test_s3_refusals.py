"""S3's refusals of keys and metadata over its limits read as the AWS CLI prints them.

AWS's answers are injected with a botocore event hook on a real client talking to moto:
a mock of a kind, used because no server here gives them (moto does not check the
limits; Ceph RGW says InvalidObjectName for a long key and takes any metadata that fits
its request headers).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from deltaglider.adapters.s3 import S3Storage
from deltaglider.core.errors import KeyTooLong, MetadataTooLarge
from tests.conftest import make_backend


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


@pytest.mark.parametrize(
    ("code", "message", "error"),
    [
        ("KeyTooLongError", "Your key is too long", KeyTooLong),
        (
            "MetadataTooLarge",
            "Your metadata headers exceed the maximum allowed metadata size",
            MetadataTooLarge,
        ),
    ],
)
def test_s3_refusals_of_limits_read_as_aws_says_them(
    tmp_path: Path,
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    code: str,
    message: str,
    error: type[Exception],
) -> None:
    backend = make_backend("moto", tmp_path, moto_endpoint, monkeypatch)
    storage = backend.storage()
    assert isinstance(storage, S3Storage)
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()

    def refuse(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, 400, {}, _Body(body))

    storage.client.meta.events.register_first("before-send.s3.PutObject", refuse)
    (tmp_path / "data").write_bytes(b"payload")
    with pytest.raises(error) as raised:
        storage.upload(backend.bucket, "k", tmp_path / "data", {})
    assert str(raised.value) == (
        f"An error occurred ({code}) when calling the PutObject operation: {message}"
    )
