"""A user's code calling the client type-checks under mypy --strict (the package ships
py.typed), and a wrong call is caught."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USER_CODE = """
from __future__ import annotations

import datetime

import deltaglider
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

s3 = deltaglider.create_client(endpoint_url="file:///tmp/store", region_name="us-east-1")
put = s3.put_object(Bucket="b", Key="k.zip", Body=b"data", Metadata={"build": "1"})
etag: str = put["ETag"]
got = s3.get_object(Bucket="b", Key="k.zip", Range="bytes=0-9")
data: bytes = got["Body"].read()
modified: datetime.datetime = got["LastModified"]
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="b", Prefix="rel/"):
    for item in page.get("Contents", []):
        size: int = item["Size"]
try:
    s3.head_object(Bucket="b", Key="missing")
except s3.exceptions.NoSuchKey:
    pass
except ClientError as error:
    code: str = error.response["Error"]["Code"]
s3.upload_file("/tmp/f", "b", "k", Config=TransferConfig(multipart_threshold=5 * 1024 * 1024))
info = s3.deltaglider_object_info(Bucket="b", Key="k.zip")
stored_as: str = info["StoredAs"]
reference: str | None = info["Reference"]
savings: float = s3.deltaglider_stats(Bucket="b")["Savings"]
valid: bool = s3.deltaglider_verify(Bucket="b", Key="k.zip")["Valid"]
"""
WRONG = """
import deltaglider

s3 = deltaglider.create_client()
s3.get_object(Bucket="b", Key=1)
s3.deltaglider_stats(Bucket="b", Prefix=None)
"""


def mypy(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    snippet = tmp_path / "user_code.py"
    snippet.write_text(code)
    env = os.environ | {"MYPYPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(snippet)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize("code", [USER_CODE], ids=["user code"])
def test_user_code_type_checks_strictly(tmp_path: Path, code: str) -> None:
    checked = mypy(tmp_path, code)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_wrong_call_is_caught(tmp_path: Path) -> None:
    checked = mypy(tmp_path, WRONG)
    assert checked.returncode == 1
    assert 'Argument "Key" to "get_object"' in checked.stdout
    assert 'Argument "Prefix" to "deltaglider_stats"' in checked.stdout
