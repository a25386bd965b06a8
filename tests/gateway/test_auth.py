"""Who may ask: SigV4 checked in headers and presigned URLs, S3's error codes for each
way a signature fails, and `serve` refusing to start with nobody to check against."""

from __future__ import annotations

import datetime
import subprocess
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import botocore.auth
import botocore.utils
import pytest
from botocore.exceptions import ClientError

from tests.gateway.conftest import clean_env
from tests.gateway.server import COMMAND, Gateway, free_port


def error_of(call: object, *args: object, **kwargs: object) -> tuple[int, str]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def raw(url: str, method: str = "GET", headers: dict[str, str] | None = None,
        data: bytes | None = None) -> tuple[int, bytes, dict[str, str]]:  # fmt: skip
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def test_signed_requests_pass_and_each_bad_signature_has_its_s3_code(
    gateway: Gateway, bucket: str
) -> None:
    gateway.client().put_object(Bucket=bucket, Key="k", Body=b"x")
    assert gateway.client("GWTESTKEY2").get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"

    assert error_of(gateway.client(secret="wrong").list_buckets) == (
        403, "SignatureDoesNotMatch")  # fmt: skip
    assert error_of(gateway.client("NOSUCHKEY", secret="x").list_buckets) == (
        403, "InvalidAccessKeyId")  # fmt: skip
    status, body, headers = raw(f"{gateway.endpoint}/{bucket}/k")
    assert status == 403
    error = ET.fromstring(body)
    assert error.findtext("Code") == "AccessDenied"
    assert error.findtext("RequestId") == headers["x-amz-request-id"]


def test_a_client_clock_off_by_more_than_15_minutes_is_refused(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client's clock set 20 minutes ahead (botocore's signers, its own and the CRT's
    when awscrt is installed, read it through `get_current_datetime`)."""
    real = botocore.utils.get_current_datetime

    def ahead(remove_tzinfo: bool = True) -> datetime.datetime:
        return real(remove_tzinfo) + datetime.timedelta(minutes=20)

    monkeypatch.setattr(botocore.auth, "get_current_datetime", ahead)
    if hasattr(botocore, "crt"):
        monkeypatch.setattr(botocore.crt.auth, "get_current_datetime", ahead)
    assert error_of(gateway.client().list_buckets) == (403, "RequestTimeTooSkewed")


def test_a_signed_payload_that_does_not_match_its_hash_is_refused(
    gateway: Gateway, bucket: str
) -> None:
    """botocore signs the body's SHA256 over plain HTTP; the body is changed after
    signing (a client-side hook, as a proxy corrupting it would)."""
    client = gateway.client()

    def corrupt(request: object, **_: object) -> None:
        request.body = b"tampered"  # type: ignore[attr-defined]
        request.headers["Content-Length"] = "8"  # type: ignore[attr-defined]

    client.meta.events.register_last("before-send.s3.PutObject", corrupt)
    assert error_of(client.put_object, Bucket=bucket, Key="t", Body=b"original")[0] == 400
    assert error_of(gateway.client().head_object, Bucket=bucket, Key="t")[0] == 404


def test_presigned_urls_work_until_they_expire_and_cannot_be_altered(
    gateway: Gateway, bucket: str
) -> None:
    client = gateway.client(signature_version="s3v4")  # boto3 presigns with SigV2 otherwise
    client.put_object(Bucket=bucket, Key="dir/file name+1.txt", Body=b"presigned")
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "dir/file name+1.txt"}, ExpiresIn=60
    )
    assert raw(url)[:2] == (200, b"presigned")
    put_url = client.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=60
    )
    assert raw(put_url, "PUT", data=b"uploaded")[0] == 200
    assert client.get_object(Bucket=bucket, Key="up.txt")["Body"].read() == b"uploaded"

    status, body, _ = raw(url.replace("file%20name", "file%20nam"))
    assert (status, ET.fromstring(body).findtext("Code")) == (403, "SignatureDoesNotMatch")
    short = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=1
    )
    time.sleep(2.1)
    status, body, _ = raw(short)
    assert (status, ET.fromstring(body).findtext("Code")) == (403, "AccessDenied")


def test_calls_meant_for_other_services_get_a_quick_4xx(gateway: Gateway) -> None:
    """An IAM call (as s3-tests' teardown sends) must not be a 5xx boto3 retries."""
    iam = boto3.client(
        "iam", endpoint_url=gateway.endpoint, aws_access_key_id="GWTESTKEY1",
        aws_secret_access_key="gw-test-secret-1", region_name="us-east-1",
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(ClientError) as caught:
        iam.list_roles()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert time.monotonic() - started < 5


def test_serve_refuses_to_start_without_users(tmp_path: Path) -> None:
    result = subprocess.run(
        [*COMMAND, "serve", "--data", str(tmp_path), "--port", "1"],
        capture_output=True, text=True, timeout=60, env=clean_env(), check=False,
    )  # fmt: skip
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].endswith(
        "no users: give --users FILE (or DG_GATEWAY_USERS), or --allow-anonymous "
        "to serve without authentication"
    )
    assert "Traceback" not in result.stderr
    bad = tmp_path / "users.txt"
    bad.write_text("ONLYAKEY\n")
    result = subprocess.run(
        [*COMMAND, "serve", "--data", str(tmp_path), "--users", str(bad)],
        capture_output=True, text=True, timeout=60, env=clean_env(), check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "line 1: expected ACCESS_KEY SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_signature_version_2_headers_and_presigned_urls(gateway: Gateway, bucket: str) -> None:
    """boto3's own SigV2 signer (`signature_version="s3"`), and the presigned URLs that
    `generate_presigned_url` makes by default."""
    v2 = gateway.client(signature_version="s3")
    v2.put_object(Bucket=bucket, Key="v2/a b+c.txt", Body=b"sigv2", ContentType="text/plain")
    assert v2.get_object(Bucket=bucket, Key="v2/a b+c.txt")["Body"].read() == b"sigv2"
    assert [o["Key"] for o in v2.list_objects(Bucket=bucket, Prefix="v2/")["Contents"]] == [
        "v2/a b+c.txt"]  # fmt: skip
    url = gateway.client().generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "v2/a b+c.txt",
                              "ResponseContentType": "x/y"}, ExpiresIn=60)  # fmt: skip
    assert "AWSAccessKeyId=" in url
    status, body, headers = raw(url)
    assert (status, body, headers["Content-Type"]) == (200, b"sigv2", "x/y")
    status, body, _ = raw(url.replace("x%2Fy", "x%2Fz"))
    assert (status, ET.fromstring(body).findtext("Code")) == (403, "SignatureDoesNotMatch")
    assert error_of(gateway.client(secret="wrong", signature_version="s3").list_buckets) == (
        403, "SignatureDoesNotMatch")  # fmt: skip
    expired = gateway.client().generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "v2/a b+c.txt"}, ExpiresIn=-1
    )
    status, body, _ = raw(expired)
    assert (status, ET.fromstring(body).findtext("Code")) == (403, "AccessDenied")


def test_anonymous_access_when_allowed(tmp_path: Path) -> None:
    """--allow-anonymous with users: unsigned requests are served, signatures still
    checked; users from DG_GATEWAY_USERS."""
    users = tmp_path / "users.txt"
    users.write_text("ENVKEY env-secret\n")
    env = clean_env({"DG_GATEWAY_USERS": str(users)})
    port = free_port()
    process = subprocess.Popen(
        [*COMMAND, "serve", "--data", str(tmp_path / "store"), "--port", str(port),
         "--workers", "1", "--allow-anonymous"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while raw_or_none(f"{endpoint}/health") is None and time.monotonic() < deadline:
            time.sleep(0.1)
        signed = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="ENVKEY",
            aws_secret_access_key="env-secret",
            region_name="us-east-1",
        )
        signed.create_bucket(Bucket="open")
        signed.put_object(Bucket="open", Key="k.txt", Body=b"anyone")
        assert raw(f"{endpoint}/open/k.txt")[:2] == (200, b"anyone")
        assert raw(f"{endpoint}/open/new.txt", "PUT", data=b"anon")[0] == 200
        assert signed.get_object(Bucket="open", Key="new.txt")["Body"].read() == b"anon"
        wrong = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="ENVKEY",
            aws_secret_access_key="wrong",
            region_name="us-east-1",
        )
        assert error_of(wrong.list_buckets) == (403, "SignatureDoesNotMatch")
    finally:
        process.terminate()
        process.wait(timeout=30)


def raw_or_none(url: str) -> int | None:
    try:
        return raw(url)[0]
    except OSError:
        return None
