"""boto3 over HTTPS (`serve --tls-cert/--tls-key`), as it talks to real S3: its PutObject
and UploadPart bodies then come aws-chunked, unsigned, with a checksum trailer
(STREAMING-UNSIGNED-PAYLOAD-TRAILER), CRC32 by default; each algorithm round trips."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.gateway.conftest import clean_env
from tests.gateway.server import Gateway, running


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, valid for a day, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


@pytest.fixture(scope="module")
def https_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    work = tmp_path_factory.mktemp("tls")
    tls = self_signed(work)
    with running(work, ["--data", str(work / "store")], env=clean_env(), tls=tls) as served:
        yield served


def payload_modes(client: Any) -> list[str]:
    """The x-amz-content-sha256 of every request the client sends from now on."""
    seen: list[str] = []

    def record(request: Any, **_: Any) -> None:
        value = request.headers.get("x-amz-content-sha256", b"")
        seen.append(value.decode() if isinstance(value, bytes) else value)

    client.meta.events.register("before-send.s3", record)
    return seen


@pytest.mark.parametrize("algorithm", [None, "CRC32", "CRC32C", "SHA1", "SHA256"])
def test_trailer_checksums_from_boto3(https_gateway: Gateway, algorithm: str | None) -> None:
    client = https_gateway.client()
    bucket = f"tls-{(algorithm or 'default').lower()}"
    client.create_bucket(Bucket=bucket)
    modes = payload_modes(client)
    body = b"artifact bytes " * 100_000
    extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
    client.put_object(Bucket=bucket, Key="a.bin", Body=body, **extra)
    assert modes == ["STREAMING-UNSIGNED-PAYLOAD-TRAILER"]
    assert client.get_object(Bucket=bucket, Key="a.bin")["Body"].read() == body
