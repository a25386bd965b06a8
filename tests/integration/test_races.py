"""Uploaders racing to create a DeltaSpace's reference all end up correct.

Six processes upload six different versions into one fresh prefix at the same moment
(they wait at a file barrier, then run the real command line), ten times over, on
every backend. Exactly one reference must exist, and every version must read back
byte-identical.
"""

from __future__ import annotations

from pathlib import Path

from deltaglider.core.models import ObjectKey
from tests.artifacts import release_zip
from tests.barrier import run_at_once
from tests.conftest import Backend

UPLOADERS = 6
ROUNDS = 10


def test_racing_uploads_into_a_fresh_prefix(backend: Backend, tmp_path: Path) -> None:
    builds = [
        release_zip(tmp_path / f"app-{v}.zip", v, files=10, file_size=20_000)
        for v in range(UPLOADERS)
    ]
    env = backend.subprocess_env()
    for round_ in range(ROUNDS):
        prefix = f"race-{round_}/"
        target = f"s3://{backend.bucket}/{prefix}"
        commands = [["cp", str(path), target, "--no-progress"] for path in builds]
        for done in run_at_once(commands, env, tmp_path, timeout=120):
            assert done.returncode == 0, done.stderr

        storage = backend.storage()
        keys = sorted(e.key for e in storage.list(backend.bucket, prefix))  # type: ignore[union-attr]
        assert keys.count(f"{prefix}reference.bin") == 1
        assert sum(key.endswith(".zip.delta") for key in keys) == UPLOADERS
        reader = backend.service()  # a fresh process's view
        for path in builds:
            out_path = tmp_path / "down" / f"{round_}-{path.name}"
            reader.get(ObjectKey(backend.bucket, prefix + path.name), out_path)
            assert out_path.read_bytes() == path.read_bytes(), (round_, path.name)
