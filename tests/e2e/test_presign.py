"""`deltaglider presign`: a working URL for an object stored whole, as `aws s3 presign`
gives; a clear refusal, pointing to the gateway, for one stored as a delta."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.artifacts import release_zip
from tests.conftest import Backend

DELTAGLIDER = Path(sys.executable).with_name("deltaglider")


def dg(backend: Backend, *arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DELTAGLIDER), *arguments],
        env=backend.subprocess_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("backend", ["moto", "ceph"], indirect=True)
def test_presigned_urls_of_whole_objects_work_and_deltas_are_refused(
    backend: Backend, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("release notes\n" * 100)
    release_zip(tmp_path / "app.zip", 1)
    for name in ("notes.txt", "app.zip"):
        assert dg(backend, "cp", name, f"s3://{backend.bucket}/r/", cwd=tmp_path).returncode == 0

    signed = dg(backend, "presign", f"s3://{backend.bucket}/r/notes.txt", "--expires-in", "60",
                cwd=tmp_path)  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    with urllib.request.urlopen(signed.stdout.strip()) as answer:
        assert answer.read() == notes.read_bytes()

    refused = dg(backend, "presign", f"s3://{backend.bucket}/r/app.zip", cwd=tmp_path)
    assert refused.returncode == 255
    assert "stored as a delta" in refused.stderr
    assert "deltaglider serve" in refused.stderr
    assert "Traceback" not in refused.stderr

    ahead = dg(backend, "presign", f"s3://{backend.bucket}/r/later.txt", cwd=tmp_path)
    assert ahead.returncode == 0  # as aws: signing needs no object yet
    assert "/r/later.txt" in ahead.stdout


@pytest.mark.parametrize("backend", ["file"], indirect=True)
def test_a_local_store_has_no_urls(backend: Backend, tmp_path: Path) -> None:
    done = dg(backend, "presign", f"s3://{backend.bucket}/k", cwd=tmp_path)
    assert done.returncode == 255
    assert "needs an S3 endpoint" in done.stderr
