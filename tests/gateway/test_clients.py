"""Real clients, real release files: uploads, listings, byte-exact downloads, ranged
GETs and deletes through the gateway, on every backend; deltas in the store; a client
that disconnects mid-upload; two gateway processes over one store."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest

from tests.artifacts import release_zip
from tests.gateway.conftest import backend_args, clean_env
from tests.gateway.server import USERS, Gateway, running
from tests.gateway.test_auth import error_of

AWS = Path(sys.executable).with_name("aws")


def corpus_files(tmp_path: Path, count: int) -> list[Path]:
    """Release files: the real corpus's numpy wheels when DG_TEST_CORPUS is set, else
    zips of a project whose versions differ a little."""
    root = os.environ.get("DG_TEST_CORPUS")
    if root and (Path(root) / "numpy-wheels").is_dir():
        found = sorted(f for f in (Path(root) / "numpy-wheels").iterdir() if f.is_file())[:count]
        if len(found) >= 2:
            return found
    return [release_zip(tmp_path / f"app-1.{v}.zip", v, files=40) for v in range(count)]


def stored_bytes(client: Any, bucket: str, data: Path | None) -> int:
    """What the store holds for the bucket: the directory's files, or (upstream) the
    stored objects as the logical view cannot show them: read from disk only for --data."""
    assert data is not None
    return sum(p.stat().st_size for p in (data / bucket).rglob("*") if p.is_file())


def test_a_release_series_through_boto3_on_every_backend(
    any_gateway: tuple[str, Gateway, str], tmp_path: Path
) -> None:
    name, gateway, bucket = any_gateway
    client = gateway.client(
        # Ceph RGW takes none of the newer checksums (docs/GATEWAY.md); the gateway does.
        request_checksum_calculation="when_required" if name == "ceph" else "when_supported"
    )
    files = corpus_files(tmp_path, 4)
    for path in files:
        client.upload_file(str(path), bucket, f"releases/{path.name}")
    listed = client.list_objects_v2(Bucket=bucket, Prefix="releases/")
    assert [(o["Key"], o["Size"]) for o in listed["Contents"]] == sorted(
        (f"releases/{p.name}", p.stat().st_size) for p in files
    )
    for path in files:
        out = tmp_path / f"back-{path.name}"
        client.download_file(bucket, f"releases/{path.name}", str(out))
        assert out.read_bytes() == path.read_bytes()
    last = files[-1].read_bytes()
    ranged = client.get_object(Bucket=bucket, Key=f"releases/{files[-1].name}",
                               Range="bytes=1000-2999")  # fmt: skip
    assert ranged["Body"].read() == last[1000:3000]
    client.delete_object(Bucket=bucket, Key=f"releases/{files[0].name}")
    left = client.list_objects_v2(Bucket=bucket, Prefix="releases/")["Contents"]
    assert len(left) == len(files) - 1


def test_stored_bytes_show_deltas(gateway: Gateway, bucket: str, tmp_path: Path) -> None:
    client = gateway.client()
    files = [release_zip(tmp_path / f"app-2.{v}.zip", v, files=40) for v in range(5)]
    for path in files:
        client.upload_file(str(path), bucket, f"r/{path.name}")
    logical = sum(p.stat().st_size for p in files)
    stored = stored_bytes(client, bucket, gateway.data)
    assert stored < logical * 0.4, (stored, logical)
    assert (gateway.data / bucket / "r" / f"{files[-1].name}.delta").exists()


@pytest.mark.parametrize("cli", ["v1", "v2"])
def test_the_aws_cli_copies_lists_and_removes(
    gateway: Gateway, bucket: str, tmp_path: Path, cli: str
) -> None:
    """AWS CLI v1 (the venv's) and v2 (Debian's, from install-system-deps.sh --test),
    with 5 MiB multipart thresholds so that the larger release goes up in parts."""
    aws_bin = AWS if cli == "v1" else Path("/usr/bin/aws")
    if not aws_bin.exists():
        pytest.skip(f"AWS CLI {cli} is not installed")
    source = tmp_path / "upload"
    source.mkdir()
    files = corpus_files(tmp_path, 3)
    for path in files:
        (source / path.name).write_bytes(path.read_bytes())
    files = [source / p.name for p in files]
    files.append(release_zip(source / "big-2.0.zip", 2, files=2, file_size=7 * 1024 * 1024))
    config = tmp_path / "aws-config"
    config.write_text("[default]\ns3 =\n  multipart_threshold = 5MB\n  multipart_chunksize = 5MB\n")
    env = clean_env({
        "AWS_ACCESS_KEY_ID": "GWTESTKEY2", "AWS_SECRET_ACCESS_KEY": USERS["GWTESTKEY2"],
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    })  # fmt: skip

    def aws(*args: str) -> str:
        result = subprocess.run(
            [str(aws_bin), "--endpoint-url", gateway.endpoint, "s3", *args],
            capture_output=True, text=True, env=env, timeout=300, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    aws("cp", "--recursive", str(source), f"s3://{bucket}/cli/")
    listing = aws("ls", f"s3://{bucket}/cli/")
    for path in files:
        assert f"{path.stat().st_size:>10} {path.name}" in listing
    big = gateway.client().head_object(Bucket=bucket, Key="cli/big-2.0.zip")
    parts = -(-files[-1].stat().st_size // (5 * 1024 * 1024))
    assert big["ETag"].endswith(f'-{parts}"')  # it went up in parts
    aws("cp", "--recursive", f"s3://{bucket}/cli/", str(tmp_path / "down"))
    for path in files:
        assert (tmp_path / "down" / path.name).read_bytes() == path.read_bytes()
    aws("rm", "--recursive", f"s3://{bucket}/cli/")
    assert gateway.client().list_objects_v2(Bucket=bucket)["KeyCount"] == 0


class _Captured(Exception):
    """A request botocore signed, taken before it was sent."""


def test_a_client_that_disconnects_mid_upload_leaves_nothing(gateway: Gateway, bucket: str) -> None:
    """A PUT of 8 MiB, signed as boto3 signs it, cut after 3 MiB."""
    client = gateway.client()
    sent: dict[str, Any] = {}

    def capture(request: Any, **_: Any) -> None:
        sent["headers"] = dict(request.headers)
        raise _Captured  # stop botocore before it sends: the test sends itself

    client.meta.events.register_last("before-send.s3.PutObject", capture)
    size = 8 * 1024 * 1024
    with pytest.raises(_Captured):
        client.put_object(Bucket=bucket, Key="cut.bin", Body=b"\0" * size)
    headers = sent["headers"]
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        head = f"PUT /{bucket}/cut.bin HTTP/1.1\r\n" + "".join(
            f"{k}: {v.decode() if isinstance(v, bytes) else v}\r\n" for k, v in headers.items()
        ) + "\r\n"  # fmt: skip
        sock.sendall(head.encode() + b"\0" * (3 * 1024 * 1024))
    time.sleep(1)
    client = gateway.client()
    assert error_of(client.head_object, Bucket=bucket, Key="cut.bin")[0] == 404
    assert gateway.data is not None
    leftovers = [p for p in (gateway.data / bucket).rglob("*") if "cut" in p.name]
    assert leftovers == []
    client.put_object(Bucket=bucket, Key="after.txt", Body=b"still serving")


@pytest.mark.parametrize("store", ["file", "ceph"])
def test_two_gateway_processes_over_one_store(
    request: pytest.FixtureRequest, tmp_path: Path, store: str
) -> None:
    """Writers through both at once into the same new prefixes; every object exact
    through both; a multipart upload begun on one and completed on the other."""
    backend, env = backend_args(request, store, tmp_path)
    with (
        running(tmp_path / "one", backend, env=env, workers=1) as one,
        running(tmp_path / "two", backend, env=env, workers=1) as two,
    ):
        shared = f"gw-two-{uuid.uuid4().hex[:8]}"
        one.client().create_bucket(Bucket=shared)
        files = [release_zip(tmp_path / f"app-3.{v}.zip", v, files=30) for v in range(6)]
        errors: list[BaseException] = []

        def upload(gateway: Gateway, paths: list[Path], prefix: str) -> None:
            try:
                client = gateway.client()
                for path in paths:
                    client.upload_file(str(path), shared, f"{prefix}/{path.name}")
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [
            threading.Thread(target=upload, args=(gw, files[i::2], f"p{n}"))
            for n in range(2) for i, gw in enumerate((one, two))
        ]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        for gateway in (one, two):
            client = gateway.client()
            for n in range(2):
                for path in files:
                    body = client.get_object(Bucket=shared, Key=f"p{n}/{path.name}")["Body"]
                    assert hashlib.sha256(body.read()).digest() == hashlib.sha256(
                        path.read_bytes()).digest()  # fmt: skip
        big = release_zip(tmp_path / "big-3.0.zip", 3, files=2, file_size=6 * 1024 * 1024)
        data = big.read_bytes()
        pieces = [data[i : i + 5 * 1024 * 1024] for i in range(0, len(data), 5 * 1024 * 1024)]
        upload = one.client().create_multipart_upload(Bucket=shared, Key="p0/big.zip")
        parts = []
        for number, piece in enumerate(pieces, 1):
            through = (one, two)[number % 2].client()
            answer = through.upload_part(Bucket=shared, Key="p0/big.zip", PartNumber=number,
                                         UploadId=upload["UploadId"], Body=piece)  # fmt: skip
            parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        two.client().complete_multipart_upload(Bucket=shared, Key="p0/big.zip",
                                               UploadId=upload["UploadId"],
                                               MultipartUpload={"Parts": parts})  # fmt: skip
        assert one.client().get_object(Bucket=shared, Key="p0/big.zip")["Body"].read() == data


@pytest.mark.parametrize("store", ["moto", "ceph"])
def test_objects_other_tools_wrote_are_served_as_they_are(
    request: pytest.FixtureRequest, tmp_path: Path, store: str
) -> None:
    """Plain objects put straight into the upstream S3 (no DeltaGlider metadata), a
    delta-candidate name among them: listed, read and ranged through the gateway."""
    backend, env = backend_args(request, store, tmp_path)
    direct = boto3.client(
        "s3", endpoint_url=backend[1], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1",
        config=botocore.config.Config(request_checksum_calculation="when_required"),
    )  # fmt: skip
    bucket = f"gw-plain-{uuid.uuid4().hex[:8]}"
    direct.create_bucket(Bucket=bucket)
    bodies = {"plain/app-9.zip": b"PK" + bytes(range(256)) * 40, "plain/notes.txt": b"notes"}
    etags = {k: direct.put_object(Bucket=bucket, Key=k, Body=v)["ETag"] for k, v in bodies.items()}
    with running(tmp_path / "gw", backend, env=env) as gateway:
        client = gateway.client()
        listed = client.list_objects_v2(Bucket=bucket, Prefix="plain/")["Contents"]
        assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [
            (k, len(v), etags[k]) for k, v in sorted(bodies.items())]  # fmt: skip
        for key, body in bodies.items():
            got = client.get_object(Bucket=bucket, Key=key)
            assert (got["Body"].read(), got["ETag"]) == (body, etags[key])
        ranged = client.get_object(Bucket=bucket, Key="plain/app-9.zip", Range="bytes=2-9")
        assert ranged["Body"].read() == bodies["plain/app-9.zip"][2:10]
