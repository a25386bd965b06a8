"""A crash at any moment of an upload leaves nothing that reads back wrong, and
`fsck --repair` clears what it left behind (unused references, a key stored twice)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.app.cli.main import run
from deltaglider.core.fsck import Problem, check, repair
from deltaglider.core.models import LogicalObject, ObjectKey
from tests.artifacts import release_zip
from tests.conftest import Backend
from tests.fakes import make_service, put_file

DELTAGLIDER = Path(sys.executable).with_name("deltaglider")
KILLS = 20
NO_GRACE = timedelta(0)  # what crashes leave is due for removal at once


def slow_xdelta3(folder: Path) -> str:
    """A PATH entry whose xdelta3 takes 0.2 s longer: uploads last long enough to be
    killed at every stage, not only while starting up."""
    folder.mkdir()
    (folder / "xdelta3").write_text('#!/bin/sh\nsleep 0.2\nexec /usr/bin/xdelta3 "$@"\n')
    (folder / "xdelta3").chmod(0o755)
    return str(folder)


def test_kill_9_during_uploads_never_leaves_a_wrong_object(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    builds = tmp_path / "builds"
    for version in range(6):
        (builds / f"v{version}").mkdir(parents=True)
    originals = {}
    for version in range(6):  # six DeltaSpaces, each getting a reference created
        path = release_zip(builds / f"v{version}" / "app.zip", version, files=12, file_size=30_000)
        originals[f"v{version}/app.zip"] = path.read_bytes()
        release_zip(
            builds / f"v{version}" / "app-next.zip", version + 10, files=12, file_size=30_000
        )
        originals[f"v{version}/app-next.zip"] = (builds / f"v{version}/app-next.zip").read_bytes()
    env = backend.subprocess_env()
    env["PATH"] = f"{slow_xdelta3(tmp_path / 'bin')}:{env['PATH']}"
    env["DG_CODEC"] = "xdelta3"  # the slowed codec (the default, zstd, runs in-process)
    rng = random.Random(20261121)
    killed_midway = 0
    for attempt in range(KILLS):
        prefix = f"kill-{attempt:02d}/"
        uploader = subprocess.Popen(
            [str(DELTAGLIDER), "cp", "--recursive", str(builds),
             f"s3://{backend.bucket}/{prefix}", "--no-progress"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(rng.uniform(0.3, 2.0))
        uploader.send_signal(signal.SIGKILL)
        killed_midway += uploader.wait() == -signal.SIGKILL

        service = backend.service()
        listed = list(service.list(backend.bucket, prefix, recursive=True))
        for entry in listed:  # whatever `ls` shows reads back exact
            assert isinstance(entry, LogicalObject)
            out = tmp_path / "check" / entry.key
            service.get(ObjectKey(backend.bucket, entry.key), out)
            assert out.read_bytes() == originals[entry.key.removeprefix(prefix)]

    assert killed_midway >= KILLS // 4, "the uploads finished before the kills"
    service = backend.service()
    found = check(service, backend.bucket, grace=NO_GRACE)
    assert {f.problem for f in found.findings} <= {Problem.UNUSED, Problem.DUPLICATE}
    assert run(["fsck", f"s3://{backend.bucket}", "--repair", "--grace", "0"]) == 0
    assert check(service, backend.bucket, verify=True, grace=NO_GRACE).findings == []
    with capsys.disabled():
        print(
            f"\n[kill -9] {backend.name}: {killed_midway}/{KILLS} uploads killed midway; "
            f"fsck found {len(found.findings)} problem(s): "
            f"{sorted(f.problem.value for f in found.findings)}"
        )


class Crash(BaseException):
    """The process dying at this point (raised by the storage fault injector below)."""


class CrashingStorage(InMemoryStorage):
    """In-memory storage that 'dies' right after its Nth write. A mock on purpose: no
    real server can be made to stop a client between two chosen requests."""

    def __init__(self, writes_before_crash: int) -> None:
        super().__init__()
        self.writes_left = writes_before_crash

    def upload(
        self,
        bucket: str,
        key: str,
        source: Path,
        metadata: Mapping[str, str],
        *,
        create_only: bool = False,
        unchanged: Callable[[], None] | None = None,
    ) -> str:
        etag = super().upload(
            bucket, key, source, metadata, create_only=create_only, unchanged=unchanged
        )
        self.writes_left -= 1
        if self.writes_left == 0:
            raise Crash
        return etag


@pytest.mark.parametrize("writes", [1, 2, 3, 4])
def test_crash_after_each_write_of_a_first_upload(tmp_path: Path, writes: int) -> None:
    """Writes of a first upload: the probe of the store's create-only writes (its
    second write is refused), the reference, the delta, the listing index."""
    storage = CrashingStorage(writes)
    service, _, _ = make_service(storage)
    build = release_zip(tmp_path / "a.zip", 1)
    with pytest.raises(Crash):
        put_file(service, build, ObjectKey("bucket", "p/a.zip"))

    listed = [e for e in service.list("bucket", "p/") if isinstance(e, LogicalObject)]
    for entry in listed:
        service.get(ObjectKey("bucket", entry.key), tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == build.read_bytes()
    report = check(service, "bucket", grace=NO_GRACE)
    expected = [Problem.UNUSED] if writes == 2 else []
    assert [f.problem for f in report.findings] == expected
    repair(service, "bucket", "", report, grace=NO_GRACE)
    assert report.clean
    assert check(service, "bucket", verify=True, grace=NO_GRACE).findings == []


def test_crash_between_a_new_form_and_the_removal_of_the_old(tmp_path: Path) -> None:
    """A key re-uploaded as a delta after being stored whole: the new delta is written,
    then the process dies before the old whole copy is removed."""
    storage = CrashingStorage(writes_before_crash=10**6)
    service, _, _ = make_service(storage)
    put_file(service, release_zip(tmp_path / "seed.zip", 0), ObjectKey("bucket", "seed.zip"))
    put_file(
        service, release_zip(tmp_path / "a.zip", 1), ObjectKey("bucket", "a.zip"), no_delta=True
    )
    newer = release_zip(tmp_path / "a2.zip", 2)
    storage.writes_left = 1  # dies right after writing a.zip.delta
    with pytest.raises(Crash):
        put_file(service, newer, ObjectKey("bucket", "a.zip"))

    report = check(service, "bucket", grace=NO_GRACE)
    assert [(f.key, f.problem) for f in report.findings] == [("a.zip", Problem.DUPLICATE)]
    repair(service, "bucket", "", report, grace=NO_GRACE)
    service.get(ObjectKey("bucket", "a.zip"), tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == newer.read_bytes()
    assert check(service, "bucket", verify=True, grace=NO_GRACE).findings == []
