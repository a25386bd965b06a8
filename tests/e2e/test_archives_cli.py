"""Containers through the `deltaglider` command: `put` says how each version was stored
(a new reference counted in full, content deltas with the entries they re-deflate), a
release pipeline's `cp` per version then one `cp --recursive` down gives every file back,
and a damaged content delta fails with one line, leaving nothing behind."""

from __future__ import annotations

import re
from pathlib import Path

from tests.artifacts import jar, wheel
from tests.conftest import Backend
from tests.e2e.test_cli import changed, corrupt, fail, run, succeed


def test_put_says_how_each_version_was_stored(backend: Backend, tmp_path: Path) -> None:
    env, bucket = backend.subprocess_env(), backend.bucket
    paths = [wheel(tmp_path / f"pkg-1.{v}-py3-none-any.whl", v, modules=40) for v in range(3)]
    lines = [succeed(["put", str(p), f"s3://{bucket}/w/"], env, tmp_path) for p in paths]
    reference = re.search(
        r"\(new reference, ([\d.]+) KiB stored for ([\d.]+) KiB, 100\.\d%\)$", lines[0][0]
    )
    assert reference, lines[0][0]  # its bytes counted where they were spent, and its own delta
    assert float(reference[2]) == round(paths[0].stat().st_size / 1024, 1) <= float(reference[1])
    for [line] in lines[1:]:
        found = re.search(
            r"\(content delta, [\d.]+ (KiB|Bytes) stored for [\d.]+ KiB, (\d+\.\d)%; "
            r"(\d+) of (\d+) entries re-deflated, (\d+) copied\)$",
            line,
        )
        assert found, line
        assert float(found[2]) < 5.0
        deflated, entries, copied = int(found[3]), int(found[4]), int(found[5])
        assert 0 < deflated < entries
        assert deflated + copied == entries


def test_a_release_series_goes_up_one_cp_at_a_time_and_comes_back_exact(
    backend: Backend, tmp_path: Path
) -> None:
    env, bucket = backend.subprocess_env(), backend.bucket
    builds = tmp_path / "builds"
    builds.mkdir()
    paths = [jar(builds / f"app-1.{v}.jar", v) for v in range(4)]
    for path in paths:
        succeed(["cp", str(path), f"s3://{bucket}/jars/"], env, tmp_path)
    succeed(["cp", "--recursive", f"s3://{bucket}/jars/", "down/"], env, tmp_path)
    for path in paths:
        assert (tmp_path / "down" / path.name).read_bytes() == path.read_bytes()


def test_a_damaged_content_delta_fails_with_one_line(backend: Backend, tmp_path: Path) -> None:
    env, bucket = backend.subprocess_env(), backend.bucket
    paths = [jar(tmp_path / f"app-1.{v}.jar", v) for v in range(2)]
    for path in paths:
        succeed(["cp", str(path), f"s3://{bucket}/j/"], env, tmp_path)
    corrupt(backend, "j/app-1.1.jar.delta")
    message = fail(["cp", f"s3://{bucket}/j/app-1.1.jar", "out.jar"], env, tmp_path, 1)
    assert "damaged" in message
    assert len(message.strip().splitlines()) == 1
    assert not (tmp_path / "out.jar").exists()


def test_ls_starts_without_the_archive_machinery(backend: Backend, tmp_path: Path) -> None:
    """Listing a prefix of content deltas loads no layout or content form: only a
    command that rebuilds one does (the start-up of every command stays as it was)."""
    env, bucket = backend.subprocess_env(), backend.bucket
    paths = [jar(tmp_path / f"app-1.{v}.jar", v) for v in range(2)]
    for path in paths:
        succeed(["cp", str(path), f"s3://{bucket}/j/"], env, tmp_path)
    profiled = changed(env, PYTHONPROFILEIMPORTTIME="1")
    listed = run(["ls", f"s3://{bucket}/j/"], profiled, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "app-1.1.jar" in listed.stdout
    assert "deltaglider.adapters.archive_container" not in listed.stderr
    fetched = run(["cp", f"s3://{bucket}/j/app-1.1.jar", "out.jar"], profiled, tmp_path)
    assert fetched.returncode == 0, fetched.stderr
    assert "deltaglider.adapters.archive_container" in fetched.stderr
    assert (tmp_path / "out.jar").read_bytes() == paths[1].read_bytes()
