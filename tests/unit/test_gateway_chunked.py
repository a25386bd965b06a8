"""aws-chunked bodies through the gateway's WSGI application, in process over the
in-memory store: AWS's published worked example of a signed chunked upload (its seed
and chunk signatures), tampered chunks, unsigned bodies with checksum trailers."""

from __future__ import annotations

import base64
import hashlib
import io
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import crc32c

from deltaglider.app.gateway import Authenticator, Gateway
from deltaglider.core.models import ObjectKey
from tests.fakes import make_service

# AWS's documented example ("Signature Calculations for the Authorization Header:
# Transferring Payload in Multiple Chunks"): 66,560 bytes of "a" in chunks of 64 KiB.
ACCESS, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
WHEN = datetime(2013, 5, 24, tzinfo=UTC).timestamp()
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
SIGNED_HEADERS = (
    "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
    "x-amz-decoded-content-length;x-amz-storage-class"
)


def app(*, allow_anonymous: bool = False) -> tuple[Gateway, Any]:
    service, storage, _ = make_service()
    storage.create_bucket("examplebucket")
    auth = Authenticator({ACCESS: SECRET}, allow_anonymous=allow_anonymous, now=lambda: WHEN)
    return Gateway(service, auth), service


def call(
    gateway: Gateway, path: str, headers: dict[str, str], body: bytes, length: int | None = None
) -> tuple[int, bytes]:
    """A PUT as gunicorn hands it over; `length`: the Content-Length declared, when the
    connection ended before the body did."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "PUT", "RAW_URI": path, "PATH_INFO": path, "QUERY_STRING": "",
        "REMOTE_ADDR": "127.0.0.1", "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body) if length is None else length),
    }  # fmt: skip
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    status: list[str] = []
    answer: Iterable[bytes] = gateway(environ, lambda line, _: status.append(line))
    data = b"".join(answer)
    getattr(answer, "close", lambda: None)()
    return int(status[0].split()[0]), data


def example_body(signatures: tuple[str, ...] = CHUNK_SIGNATURES, second: bytes = b"a") -> bytes:
    return (
        f"10000;chunk-signature={signatures[0]}\r\n".encode() + b"a" * 65536 + b"\r\n"
        + f"400;chunk-signature={signatures[1]}\r\n".encode() + second * 1024 + b"\r\n"
        + f"0;chunk-signature={signatures[2]}\r\n\r\n".encode()
    )  # fmt: skip


def example_headers() -> dict[str, str]:
    return {
        "host": "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS}/20130524/us-east-1/s3/"
        f"aws4_request,SignedHeaders={SIGNED_HEADERS},Signature={SEED}",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
    }


def test_the_published_signed_chunked_upload_is_stored() -> None:
    gateway, service = app()
    body = example_body()
    assert len(body) == 66824  # the Content-Length the example signs
    status, answer = call(gateway, "/examplebucket/chunkObject.txt", example_headers(), body)
    assert status == 200, answer
    with service.open(ObjectKey("examplebucket", "chunkObject.txt")) as stream:
        assert stream.read() == b"a" * 66560
    assert service.head(ObjectKey("examplebucket", "chunkObject.txt")).headers == {}


def test_a_chunk_changed_in_flight_stores_nothing() -> None:
    gateway, service = app()
    status, answer = call(gateway, "/examplebucket/chunkObject.txt", example_headers(),
                          example_body(second=b"b"))  # fmt: skip
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in answer
    assert list(service.list("examplebucket")) == []


def test_a_body_cut_short_stores_nothing() -> None:
    gateway, service = app()
    status, answer = call(gateway, "/examplebucket/chunkObject.txt", example_headers(),
                          example_body()[:40000], length=66824)  # fmt: skip
    assert status == 400
    assert b"<Code>IncompleteBody</Code>" in answer
    assert list(service.list("examplebucket")) == []


def trailer_body(data: bytes, trailer: str) -> bytes:
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER framing, as boto3 sends it over HTTPS."""
    return (f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n"
            + trailer.encode() + b"\r\n\r\n")  # fmt: skip


def unsigned_headers(data: bytes, trailer_name: str) -> dict[str, str]:
    return {
        "host": "127.0.0.1",
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": trailer_name,
    }


def test_unsigned_bodies_with_each_checksum_trailer() -> None:
    gateway, service = app(allow_anonymous=True)
    data = b"release bytes " * 5000
    values = {
        "crc32": zlib.crc32(data).to_bytes(4, "big"),
        "crc32c": crc32c.crc32c(data).to_bytes(4, "big"),
        "sha1": hashlib.sha1(data).digest(),
        "sha256": hashlib.sha256(data).digest(),
    }
    for algorithm, digest in values.items():
        name = f"x-amz-checksum-{algorithm}"
        trailer = f"{name}:{base64.b64encode(digest).decode()}"
        path, headers = f"/examplebucket/{algorithm}.bin", unsigned_headers(data, name)
        status, answer = call(gateway, path, headers, trailer_body(data, trailer))
        assert status == 200, (algorithm, answer)
        with service.open(ObjectKey("examplebucket", f"{algorithm}.bin")) as stream:
            assert stream.read() == data

    wrong = f"x-amz-checksum-crc32:{base64.b64encode(b'0000').decode()}"
    status, answer = call(gateway, "/examplebucket/wrong.bin",
                          unsigned_headers(data, "x-amz-checksum-crc32"),
                          trailer_body(data, wrong))  # fmt: skip
    assert (status, b"<Code>BadDigest</Code>" in answer) == (400, True)
    status, answer = call(gateway, "/examplebucket/unknown.bin",
                          unsigned_headers(data, "x-amz-checksum-crc64nvme"),
                          trailer_body(data, "x-amz-checksum-crc64nvme:AAAAAAAAAAA="))  # fmt: skip
    assert status == 501
    names = [o.key for o in service.list("examplebucket")]  # type: ignore[union-attr]
    assert names == ["crc32.bin", "crc32c.bin", "sha1.bin", "sha256.bin"]


def test_a_checksum_header_is_checked_on_a_plain_body() -> None:
    gateway, _ = app(allow_anonymous=True)
    headers = {"host": "127.0.0.1",
               "x-amz-checksum-crc32": base64.b64encode(b"\0\0\0\0").decode()}  # fmt: skip
    status, answer = call(gateway, "/examplebucket/plain.bin", headers, b"not zero")
    assert (status, b"<Code>BadDigest</Code>" in answer) == (400, True)
    headers["x-amz-checksum-crc32"] = base64.b64encode(
        zlib.crc32(b"not zero").to_bytes(4, "big")).decode()  # fmt: skip
    assert call(gateway, "/examplebucket/plain.bin", headers, b"not zero")[0] == 200
