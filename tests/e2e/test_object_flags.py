"""`--content-type`, `--metadata`, `--metadata-directive` and the guessed Content-Type do
what they do with `aws s3`, for objects stored whole and as deltas alike.

The same commands run with the AWS CLI (against a plain bucket) and with `deltaglider`
(against its own) on one moto server; what aws's objects carry (a raw HEAD) must be what
DeltaGlider's logical objects carry (the service's HEAD), S3's default Content-Type
(`binary/octet-stream`) standing for "none given".
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from deltaglider.app.settings import Settings
from deltaglider.app.wiring import build_service
from deltaglider.core.models import ObjectKey
from tests.artifacts import release_zip
from tests.conftest import raw_client

BIN = Path(sys.executable).parent
TOOLS = {"aws": [str(BIN / "aws"), "s3"], "deltaglider": [str(BIN / "deltaglider")]}
DEFAULT_TYPE = "binary/octet-stream"  # what S3 says when no Content-Type was given

COMMANDS = [
    "cp notes.txt s3://BUCKET/guessed.txt",
    "cp notes.txt s3://BUCKET/plain.txt --no-guess-mime-type",
    "cp notes.txt s3://BUCKET/given.txt --content-type text/x-given --metadata a=1,b=two",
    'cp app.zip s3://BUCKET/app.zip --metadata {"build":"42"}',
    "cp app2.zip s3://BUCKET/app2.zip --content-type application/x-app",
    "cp s3://BUCKET/given.txt s3://BUCKET/kept.txt",
    "cp s3://BUCKET/given.txt s3://BUCKET/replaced.txt --metadata z=9",
    "cp s3://BUCKET/given.txt s3://BUCKET/emptied.txt --metadata-directive REPLACE",
    "cp s3://BUCKET/app2.zip s3://BUCKET/app2-copy.zip",
]
KEYS = ["guessed.txt", "plain.txt", "given.txt", "app.zip", "app2.zip", "kept.txt",
        "replaced.txt", "emptied.txt", "app2-copy.zip"]  # fmt: skip


def test_flags_give_what_aws_gives(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DG_"))} | {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    (tmp_path / "notes.txt").write_text("release notes\n" * 50)
    release_zip(tmp_path / "app.zip", 1)
    release_zip(tmp_path / "app2.zip", 2)
    client: Any = raw_client(env)
    buckets = {tool: f"flags-{tool[:3]}-{uuid.uuid4().hex[:8]}" for tool in TOOLS}
    for tool, bucket in buckets.items():
        client.create_bucket(Bucket=bucket)
        for line in COMMANDS:
            args = [a.replace("BUCKET", bucket) for a in line.split(" ")]
            command = [*TOOLS[tool], *args, "--no-progress"]
            done = subprocess.run(
                command, env=env, cwd=tmp_path, capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, (tool, line, done.stderr)

    for variable, value in env.items():
        if variable.startswith("AWS_"):
            monkeypatch.setenv(variable, value)
    service = build_service(Settings.load(env))
    for key in KEYS:
        theirs = client.head_object(Bucket=buckets["aws"], Key=key)
        ours = service.head(ObjectKey(buckets["deltaglider"], key))
        assert (ours.content_type or DEFAULT_TYPE, ours.user_metadata) == (
            theirs["ContentType"],
            theirs["Metadata"],
        ), key
    zipped = service.head(ObjectKey(buckets["deltaglider"], "app2.zip"))
    assert zipped.stored_key.endswith(".delta")  # the flags hold for deltas too


@pytest.mark.parametrize("value", ["a", "a=1,b", '{"a": [1'])
def test_malformed_metadata_is_a_usage_error(value: str, tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("x")
    done = subprocess.run(
        [*TOOLS["deltaglider"], "cp", "x.txt", "s3://b/", "--metadata", value],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "Invalid value for '--metadata'" in done.stderr
    assert "Traceback" not in done.stderr
