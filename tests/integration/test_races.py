"""Uploaders racing to create a DeltaSpace's reference all end up correct.

Six processes upload six different versions into one fresh prefix at the same moment
(they wait at a file barrier, then run the real command line), ten times over, on
every backend. Exactly one reference must exist, and every version must read back
byte-identical.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from deltaglider.core.models import ObjectKey
from tests.artifacts import release_zip
from tests.conftest import Backend

UPLOADERS = 6
ROUNDS = 10
AT_THE_BARRIER = """
import os, sys, time
from pathlib import Path
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.001)
from deltaglider.app.cli.main import run
sys.exit(run(sys.argv[2:]))
"""


def test_racing_uploads_into_a_fresh_prefix(backend: Backend, tmp_path: Path) -> None:
    builds = [
        release_zip(tmp_path / f"app-{v}.zip", v, files=10, file_size=20_000)
        for v in range(UPLOADERS)
    ]
    script = tmp_path / "uploader.py"
    script.write_text(AT_THE_BARRIER)
    env = backend.subprocess_env()
    for round_ in range(ROUNDS):
        go = tmp_path / f"go-{round_}"
        prefix = f"race-{round_}/"
        uploaders = [
            subprocess.Popen(
                [sys.executable, str(script), str(go), "cp", str(path),
                 f"s3://{backend.bucket}/{prefix}", "--no-progress"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for path in builds
        ]  # fmt: skip
        time.sleep(1.5)  # every uploader imported and waiting at the barrier
        go.touch()
        for uploader in uploaders:
            _, err = uploader.communicate(timeout=120)
            assert uploader.returncode == 0, err

        storage = backend.storage()
        keys = sorted(e.key for e in storage.list(backend.bucket, prefix))  # type: ignore[union-attr]
        assert keys.count(f"{prefix}reference.bin") == 1
        assert sum(key.endswith(".zip.delta") for key in keys) == UPLOADERS
        reader = backend.service()  # a fresh process's view
        for path in builds:
            out_path = tmp_path / "down" / f"{round_}-{path.name}"
            reader.get(ObjectKey(backend.bucket, prefix + path.name), out_path)
            assert out_path.read_bytes() == path.read_bytes(), (round_, path.name)
