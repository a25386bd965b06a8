"""`migrate`, `mb`/`rb` and `--dryrun`, through the installed command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.artifacts import release_zip
from tests.conftest import Backend, raw_client

DELTAGLIDER = Path(sys.executable).with_name("deltaglider")


def dg(backend: Backend, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    no_bar = ["--no-progress"] if args[0] in ("cp", "sync", "rm", "migrate") else []
    return subprocess.run(
        [str(DELTAGLIDER), *args, *no_bar],
        env=backend.subprocess_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_migrate_copies_a_plain_prefix_into_delta_storage(
    s3_backend: Backend, tmp_path: Path
) -> None:
    client: Any = raw_client(s3_backend.env)
    bucket = s3_backend.bucket
    builds = [
        release_zip(tmp_path / f"app-{v}.zip", v, files=10, file_size=20_000) for v in range(5)
    ]
    for path in builds:  # a bucket filled by plain `aws s3 cp`
        client.upload_file(str(path), bucket, f"plain/{path.name}")

    dry = dg(
        s3_backend,
        "migrate",
        f"s3://{bucket}/plain/",
        f"s3://{bucket}/dg/",
        "--dryrun",
        cwd=tmp_path,
    )
    assert dry.returncode == 0, dry.stderr
    assert sorted(dry.stdout.splitlines())[:5] == [
        f"(dryrun) copy: s3://{bucket}/plain/{p.name} to s3://{bucket}/dg/{p.name}" for p in builds
    ]
    assert "KeyCount" not in client.list_objects_v2(Bucket=bucket, Prefix="dg/") or (
        client.list_objects_v2(Bucket=bucket, Prefix="dg/")["KeyCount"] == 0
    )

    first = dg(s3_backend, "migrate", f"s3://{bucket}/plain/", f"s3://{bucket}/dg/", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "migrated 5 object(s), 0 already there" in first.stdout
    stored = {
        o["Key"]: o["Size"] for o in client.list_objects_v2(Bucket=bucket, Prefix="dg/")["Contents"]
    }
    assert set(stored) == {f"dg/{p.name}.delta" for p in builds} | {
        "dg/reference.bin",
        "dg/.dg-index.json",
    }

    again = dg(s3_backend, "migrate", f"s3://{bucket}/plain/", f"s3://{bucket}/dg/", cwd=tmp_path)
    assert again.returncode == 0
    assert "migrated 0 object(s), 5 already there" in again.stdout

    down = tmp_path / "down"
    assert (
        dg(
            s3_backend, "cp", "--recursive", f"s3://{bucket}/dg/", str(down), cwd=tmp_path
        ).returncode
        == 0
    )
    for path in builds:
        assert (down / path.name).read_bytes() == path.read_bytes()
    report = json.loads(
        dg(s3_backend, "stats", "--json", f"s3://{bucket}/dg/", cwd=tmp_path).stdout
    )
    assert report["total"]["objects"] == 5
    assert report["total"]["stored_bytes"] < report["total"]["logical_bytes"] / 3


def test_make_and_remove_buckets(backend: Backend, tmp_path: Path) -> None:
    name = backend.bucket + "-new"
    made = dg(backend, "mb", f"s3://{name}", cwd=tmp_path)
    assert (made.returncode, made.stdout) == (0, f"make_bucket: {name}\n")
    assert f" {name}\n" in dg(backend, "ls", cwd=tmp_path).stdout
    again = dg(backend, "mb", f"s3://{name}", cwd=tmp_path)  # as S3 in us-east-1: yours already
    assert (again.returncode, again.stdout) == (0, f"make_bucket: {name}\n")
    invalid = dg(backend, "mb", "s3://Bad_Name!", cwd=tmp_path)
    assert invalid.returncode in (1, 255)
    assert len([line for line in invalid.stderr.splitlines() if line]) == 1

    build = release_zip(tmp_path / "a.zip", 1)
    assert dg(backend, "cp", str(build), f"s3://{name}/x/", cwd=tmp_path).returncode == 0
    refused = dg(backend, "rb", f"s3://{name}", cwd=tmp_path)
    assert refused.returncode == 1
    assert "BucketNotEmpty" in refused.stderr

    forced = dg(backend, "rb", "--force", f"s3://{name}", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.splitlines() == [f"delete: s3://{name}/x/a.zip", f"remove_bucket: {name}"]
    assert f" {name}\n" not in dg(backend, "ls", cwd=tmp_path).stdout


def test_dryrun_changes_nothing(backend: Backend, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for v in range(3):
        release_zip(tree / f"b{v}.zip", v)
    target = f"s3://{backend.bucket}/t/"
    for command in (["cp", "--recursive", str(tree), target], ["sync", str(tree), target]):
        result = dg(backend, *command, "--dryrun", cwd=tmp_path)
        assert result.returncode == 0
        assert sorted(result.stdout.splitlines()) == [
            f"(dryrun) upload: tree/b{v}.zip to {target}b{v}.zip" for v in range(3)
        ]
    listed = dg(backend, "ls", "--recursive", f"s3://{backend.bucket}", cwd=tmp_path)
    assert (listed.returncode, listed.stdout) == (1, "")
