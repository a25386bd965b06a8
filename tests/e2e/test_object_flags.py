"""`--content-type`, `--metadata`, `--metadata-directive` and the guessed Content-Type do
what they do with `aws s3`, for objects stored whole and as deltas alike.

The same commands run with the AWS CLI (against a plain bucket) and with `deltaglider`
(against its own) on one moto server; what aws's objects carry (a raw HEAD) must be what
DeltaGlider's logical objects carry (the service's HEAD), S3's default Content-Type
(`binary/octet-stream`) standing for "none given".
"""

from __future__ import annotations

import os
import shlex
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
    'cp app.zip s3://BUCKET/app.zip --metadata \'{"build":"42"}\'',
    "cp app2.zip s3://BUCKET/app2.zip --content-type application/x-app",
    "cp s3://BUCKET/given.txt s3://BUCKET/kept.txt",
    "cp s3://BUCKET/given.txt s3://BUCKET/replaced.txt --metadata z=9",
    "cp s3://BUCKET/given.txt s3://BUCKET/emptied.txt --metadata-directive REPLACE",
    "cp s3://BUCKET/app2.zip s3://BUCKET/app2-copy.zip",
    "cp app.zip s3://BUCKET/headers.zip --cache-control max-age=60 --content-disposition"
    " attachment --content-encoding identity --content-language en --expires"
    " 2030-01-01T00:00:00Z",
    "cp notes.txt s3://BUCKET/headers.txt --cache-control no-cache --expires 1893456000",
    "cp s3://BUCKET/headers.zip s3://BUCKET/headers-kept.zip",
    "cp s3://BUCKET/headers.zip s3://BUCKET/headers-unchanged.zip --cache-control no-store",
    "cp s3://BUCKET/headers.zip s3://BUCKET/headers-replaced.zip --cache-control no-store"
    " --metadata-directive REPLACE",
    "cp s3://BUCKET/given.txt s3://BUCKET/type-unchanged.txt --content-type text/x-other",
]
KEYS = ["guessed.txt", "plain.txt", "given.txt", "app.zip", "app2.zip", "kept.txt",
        "replaced.txt", "emptied.txt", "app2-copy.zip", "headers.zip", "headers.txt",
        "headers-kept.zip", "headers-unchanged.zip", "headers-replaced.zip",
        "type-unchanged.txt"]  # fmt: skip
# HEAD's fields for the headers S3 keeps with an object, by header (lowercase).
KEPT = {"cache-control": "CacheControl", "content-disposition": "ContentDisposition",
        "content-encoding": "ContentEncoding", "content-language": "ContentLanguage",
        "expires": "ExpiresString"}  # fmt: skip


def test_flags_give_what_aws_gives(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tool_env(moto_endpoint)
    (tmp_path / "notes.txt").write_text("release notes\n" * 50)
    release_zip(tmp_path / "app.zip", 1)
    release_zip(tmp_path / "app2.zip", 2)
    client: Any = raw_client(env)
    buckets = {tool: f"flags-{tool[:3]}-{uuid.uuid4().hex[:8]}" for tool in TOOLS}
    for tool, bucket in buckets.items():
        client.create_bucket(Bucket=bucket)
        for line in COMMANDS:
            args = [a.replace("BUCKET", bucket) for a in shlex.split(line)]
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
        kept = {name: theirs[field] for name, field in KEPT.items() if field in theirs}
        assert dict(ours.headers or {}) == kept, key
    for key in ("app2.zip", "headers.zip"):
        zipped = service.head(ObjectKey(buckets["deltaglider"], key))
        assert zipped.stored_key.endswith(".delta")  # the flags hold for deltas too
    assert service.head(ObjectKey(buckets["deltaglider"], "headers-kept.zip")).headers


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


WRITE_FLAGS = [
    "--sse",
    "--storage-class",
    "STANDARD_IA",
    "--acl",
    "bucket-owner-full-control",
    "--request-payer",
    "requester",
]


def stored_as(client: Any, bucket: str, key: str) -> tuple[str | None, str, list[str]]:
    """An S3 object's encryption, storage class and ACL grants, as S3 reports them."""
    head = client.head_object(Bucket=bucket, Key=key)
    grants = client.get_object_acl(Bucket=bucket, Key=key)["Grants"]
    return (
        head.get("ServerSideEncryption"),
        head.get("StorageClass", "STANDARD"),
        sorted(f"{g['Grantee'].get('URI', 'owner')} {g['Permission']}" for g in grants),
    )


def test_write_flags_hold_for_every_object_a_delta_is_stored_as(
    moto_endpoint: str, tmp_path: Path
) -> None:
    """--sse, --storage-class, --acl, --request-payer: what aws's object carries, each
    S3 object behind DeltaGlider's carries too (its delta and its reference alike); the
    small bookkeeping objects keep the standard class, encrypted all the same."""
    env = tool_env(moto_endpoint)
    release_zip(tmp_path / "app-1.zip", 1)
    release_zip(tmp_path / "app-2.zip", 2)
    client: Any = raw_client(env)
    buckets = {tool: f"wflags-{tool[:3]}-{uuid.uuid4().hex[:8]}" for tool in TOOLS}
    for tool, bucket in buckets.items():
        client.create_bucket(Bucket=bucket)
        for name in ("app-1.zip", "app-2.zip"):
            command = [*TOOLS[tool], "cp", name, f"s3://{bucket}/rel/", *WRITE_FLAGS]
            done = run_tool([*command, "--no-progress"], env, tmp_path)
            assert done.returncode == 0, (tool, done.stderr)

    theirs = stored_as(client, buckets["aws"], "rel/app-2.zip")
    assert theirs[:2] == ("AES256", "STANDARD_IA")
    ours = client.list_objects_v2(Bucket=buckets["deltaglider"])["Contents"]
    keys = sorted(entry["Key"] for entry in ours)
    assert "rel/app-2.zip.delta" in keys
    for key in keys:
        encryption, storage_class, grants = stored_as(client, buckets["deltaglider"], key)
        if key.rsplit("/", 1)[-1].startswith(".dg-"):
            assert (encryption, storage_class, grants) == (theirs[0], "STANDARD", theirs[2]), key
        else:
            assert (encryption, storage_class, grants) == theirs, key


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--acl", "public-read"], "S3 would give readers the delta's bytes"),
        (["--storage-class", "GLACIER"], "must be restored before they can be read"),
        (["--sse-kms-key-id", "k1"], "--sse-kms-key-id needs --sse aws:kms"),
    ],
)
def test_a_flag_a_delta_cannot_be_stored_with_is_refused_unless_stored_whole(
    moto_endpoint: str, tmp_path: Path, flags: list[str], reason: str
) -> None:
    env = tool_env(moto_endpoint)
    release_zip(tmp_path / "app-1.zip", 1)
    client: Any = raw_client(env)
    bucket = f"refused-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    command = [*TOOLS["deltaglider"], "cp", "app-1.zip", f"s3://{bucket}/", *flags]

    refused = run_tool(command, env, tmp_path)

    lines = refused.stderr.strip().splitlines()
    assert (refused.returncode, len(lines)) == (255, 1), refused.stderr
    assert reason in lines[0]
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    if "--sse-kms-key-id" in flags:
        return
    whole = run_tool([*command, "--no-delta", "--no-progress"], env, tmp_path)
    assert whole.returncode == 0, whole.stderr
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["app-1.zip"]


def test_write_flags_on_a_local_store_are_refused(tmp_path: Path) -> None:
    (tmp_path / "store" / "bkt").mkdir(parents=True)
    (tmp_path / "a.txt").write_text("a")
    env = {**os.environ, "AWS_ENDPOINT_URL": (tmp_path / "store").as_uri()}
    command = [*TOOLS["deltaglider"], "cp", "a.txt", "s3://bkt/", "--sse", "--acl", "private"]

    refused = run_tool(command, env, tmp_path)

    assert refused.returncode == 255
    assert refused.stderr.strip() == (
        "fatal error: --acl, --sse: a local store (file://) keeps files as they are, "
        "with no ACLs, encryption or storage classes"
    )
    assert list((tmp_path / "store" / "bkt").iterdir()) == []


def tool_env(endpoint: str) -> dict[str, str]:
    """Both tools' environment: the moto server, test keys, no configuration files."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DG_"))} | {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


def run_tool(
    command: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
