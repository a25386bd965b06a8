"""s3cmd, s5cmd, minio-py and rclone through the gateway, each with real release files
(sent in parts where the client splits them), listing, byte-exact downloads, a ranged
read where the client has one, and deletes. A client that is not installed (rclone comes
from `scripts/install-system-deps.sh --test`) is skipped."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.artifacts import release_zip
from tests.gateway.conftest import clean_env
from tests.gateway.server import USERS, Gateway

USER = "GWTESTKEY1"
BIN = Path(sys.executable).parent
MiB = 1024 * 1024


def releases(tmp_path: Path, name: str) -> list[Path]:
    """Three versions of a ~7 MiB release zip: above every client's 5 MiB parts."""
    folder = tmp_path / "up"
    folder.mkdir()
    return [release_zip(folder / f"{name}-1.{v}.zip", v, files=2, file_size=7 * MiB)
            for v in range(3)]  # fmt: skip


def run(args: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False,
                            env=env or clean_env())  # fmt: skip
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def tool(name: str) -> str:
    found = shutil.which(name, path=f"{BIN}:/usr/bin:/usr/local/bin")
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


def check_downloads(files: list[Path], folder: Path) -> None:
    for path in files:
        assert (folder / path.name).read_bytes() == path.read_bytes(), path.name


def test_s3cmd(gateway: Gateway, bucket: str, tmp_path: Path) -> None:
    host = f"127.0.0.1:{gateway.port}"
    s3cmd = [tool("s3cmd"), "-c", "/dev/null", f"--host={host}", f"--host-bucket={host}",
             "--no-ssl", f"--access_key={USER}", f"--secret_key={USERS[USER]}",
             "--region=us-east-1", "--multipart-chunk-size-mb=5"]  # fmt: skip
    files = releases(tmp_path, "s3cmd")
    for path in files:
        run([*s3cmd, "put", str(path), f"s3://{bucket}/s3cmd/{path.name}"])
    listing = run([*s3cmd, "ls", f"s3://{bucket}/s3cmd/"])
    for path in files:
        assert f"s3://{bucket}/s3cmd/{path.name}" in listing
    down = tmp_path / "down"
    down.mkdir()
    for path in files:
        run([*s3cmd, "get", f"s3://{bucket}/s3cmd/{path.name}", str(down / path.name)])
    check_downloads(files, down)
    run([*s3cmd, "del", "--recursive", "--force", f"s3://{bucket}/s3cmd/"])
    assert gateway.client().list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_s5cmd(gateway: Gateway, bucket: str, tmp_path: Path) -> None:
    env = clean_env({"AWS_ACCESS_KEY_ID": USER, "AWS_SECRET_ACCESS_KEY": USERS[USER],
                     "AWS_REGION": "us-east-1"})  # fmt: skip
    s5cmd = [tool("s5cmd"), "--endpoint-url", gateway.endpoint]
    files = releases(tmp_path, "s5cmd")
    run([*s5cmd, "cp", "--part-size", "5", f"{files[0].parent}/*", f"s3://{bucket}/s5/"], env)
    listing = run([*s5cmd, "ls", f"s3://{bucket}/s5/"], env)
    for path in files:
        assert path.name in listing
    run([*s5cmd, "cp", f"s3://{bucket}/s5/*", f"{tmp_path / 'down'}/"], env)
    check_downloads(files, tmp_path / "down")
    run([*s5cmd, "rm", f"s3://{bucket}/s5/*"], env)
    assert gateway.client().list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_minio_py(gateway: Gateway, bucket: str, tmp_path: Path) -> None:
    minio = pytest.importorskip("minio")
    client = minio.Minio(f"127.0.0.1:{gateway.port}", access_key=USER,
                         secret_key=USERS[USER], secure=False, region="us-east-1")  # fmt: skip
    files = releases(tmp_path, "minio")
    for path in files:
        client.fput_object(bucket, f"mp/{path.name}", str(path), part_size=5 * MiB)
    names = sorted(o.object_name for o in client.list_objects(bucket, prefix="mp/"))
    assert names == sorted(f"mp/{p.name}" for p in files)
    for path in files:
        client.fget_object(bucket, f"mp/{path.name}", str(tmp_path / "down" / path.name))
    check_downloads(files, tmp_path / "down")
    response = client.get_object(bucket, f"mp/{files[2].name}", offset=1000, length=5000)
    assert response.read() == files[2].read_bytes()[1000:6000]
    response.close()
    response.release_conn()
    for path in files:
        client.remove_object(bucket, f"mp/{path.name}")
    assert list(client.list_objects(bucket, recursive=True)) == []


def test_rclone(gateway: Gateway, bucket: str, tmp_path: Path) -> None:
    env = clean_env({
        "RCLONE_CONFIG_GW_TYPE": "s3", "RCLONE_CONFIG_GW_PROVIDER": "Other",
        "RCLONE_CONFIG_GW_ENDPOINT": gateway.endpoint, "RCLONE_CONFIG_GW_REGION": "us-east-1",
        "RCLONE_CONFIG_GW_ACCESS_KEY_ID": USER, "RCLONE_CONFIG_GW_SECRET_ACCESS_KEY": USERS[USER],
        "RCLONE_CONFIG": "/dev/null",
    })  # fmt: skip
    rclone = [tool("rclone"), "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"]
    files = releases(tmp_path, "rclone")
    run([*rclone, "copy", str(files[0].parent), f"gw:{bucket}/rc"], env)
    listing = run([*rclone, "lsf", f"gw:{bucket}/rc"], env)
    assert sorted(listing.split()) == sorted(p.name for p in files)
    run([*rclone, "copy", f"gw:{bucket}/rc", str(tmp_path / "down")], env)
    check_downloads(files, tmp_path / "down")
    part = subprocess.run([*rclone, "cat", "--offset", "100", "--count", "900",
                           f"gw:{bucket}/rc/{files[1].name}"], capture_output=True,
                          env=env, timeout=120, check=True).stdout  # fmt: skip
    assert part == files[1].read_bytes()[100:1000]
    run([*rclone, "delete", f"gw:{bucket}/rc"], env)
    assert gateway.client().list_objects_v2(Bucket=bucket)["KeyCount"] == 0
