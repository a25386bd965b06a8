"""Uploads, deletes and garbage collection at once, in separate processes: nothing
becomes unreadable, and nothing unused is left after a last gc (bug 2).

Each round seeds a prefix with `x.zip` (its reference is made from x), then starts at
one moment (a file barrier): `rm x.zip`, two uploads (`y.zip`, `z.zip`) and two
`gc --grace 0`, the most eager collection there is. The uploaders find x's reference
unused and make their deltas against it while the collectors remove it; every upload
must still succeed and read back exactly from a fresh process. (`rm` itself collects
a prefix it leaves without deltas, so it races as a collector too.)
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from deltaglider.app.cli.main import run
from deltaglider.core.fsck import check
from deltaglider.core.models import LogicalObject, ObjectKey
from tests.artifacts import release_zip
from tests.barrier import run_at_once
from tests.conftest import Backend

ROUNDS = 12


def test_uploads_deletes_and_gc_at_once_lose_nothing(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    builds = {
        name: release_zip(tmp_path / name, version, files=10, file_size=40_000)
        for version, name in enumerate(("x.zip", "y.zip", "z.zip"))
    }
    env = backend.subprocess_env() | {"DG_LOG_LEVEL": "DEBUG"}
    removed = retried = 0
    for round_ in range(ROUNDS):
        prefix = f"s3://{backend.bucket}/round-{round_:02d}/"
        assert run(["cp", str(builds["x.zip"]), prefix, "--no-progress", "--quiet"]) == 0
        commands = [
            ["rm", prefix + "x.zip"],
            ["cp", str(builds["y.zip"]), prefix, "--no-progress"],
            ["cp", str(builds["z.zip"]), prefix, "--no-progress"],
            ["gc", prefix, "--grace", "0"],
            ["gc", prefix, "--grace", "0"],
        ]
        for done in run_at_once(commands, env, tmp_path):
            allowed = (0, 2) if done.args[0] == "gc" else (0,)  # 2: the other gc was busy
            assert done.returncode in allowed, (done.args, done.stdout, done.stderr)
            removed += len(re.findall(r"^delete: .*reference", done.stdout, re.MULTILINE))
            retried += done.stderr.count("uploading it again")

        reader = backend.service()  # a fresh process
        listed = {
            entry.key.rsplit("/", 1)[-1]
            for entry in reader.list(backend.bucket, f"round-{round_:02d}/")
            if isinstance(entry, LogicalObject)
        }
        assert listed == {"y.zip", "z.zip"}, round_
        for name in listed:
            out_path = tmp_path / "down" / f"{round_}-{name}"
            reader.get(ObjectKey(backend.bucket, f"round-{round_:02d}/{name}"), out_path)
            assert out_path.read_bytes() == builds[name].read_bytes(), (round_, name)

    assert run(["gc", f"s3://{backend.bucket}", "--grace", "0"]) == 0
    report = check(backend.service(), backend.bucket, verify=True, grace=timedelta(0))
    assert report.findings == []
    assert report.scheduled == []
    with capsys.disabled():
        print(
            f"\n[gc race] {backend.name}: {ROUNDS} rounds x (rm + 2 uploads + 2 gc): "
            f"{removed} references removed by gc, {retried} uploads went again; "
            "0 unreadable, 0 unused left"
        )
