"""`deltaglider cp` under the longest keys S3 takes, end to end on every backend."""

from __future__ import annotations

from pathlib import Path

from tests.artifacts import sdist
from tests.conftest import Backend
from tests.e2e.test_cli import succeed
from tests.integration.test_limits import assert_within_s3_limits, cjk_key


def test_cp_gzip_releases_under_a_long_cjk_key_and_back(backend: Backend, tmp_path: Path) -> None:
    env, bucket = backend.subprocess_env(), backend.bucket
    paths = [sdist(tmp_path / f"pkg-1.{v}.tar.gz", v) for v in range(2)]

    for version, path in enumerate(paths):
        lines = succeed(["cp", path.name, f"s3://{bucket}/{cjk_key(version)}"], env, tmp_path)
        assert lines == [f"upload: ./{path.name} to s3://{bucket}/{cjk_key(version)}"]
    assert_within_s3_limits(backend)

    for version, path in enumerate(paths):
        succeed(["cp", f"s3://{bucket}/{cjk_key(version)}", "got.tar.gz"], env, tmp_path)
        assert (tmp_path / "got.tar.gz").read_bytes() == path.read_bytes()
