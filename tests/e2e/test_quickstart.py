"""`make quickstart`'s main job, run as the README runs it, in a scratch directory."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quickstart_stores_lists_and_restores_every_build(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DG_"))}
    done = subprocess.run(
        [REPO / "scripts" / "quickstart.sh"],
        env=env | {"QUICKSTART_DIR": str(tmp_path / "qs")},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = done.stdout
    assert (
        len(re.findall(r"^upload: builds/myapp-1\.0\.\d\.zip to s3://releases/myapp/", out, re.M))
        == 8
    )
    assert (
        len(re.findall(r"^download: s3://releases/myapp/myapp-1\.0\.\d\.zip to ", out, re.M)) == 8
    )
    assert "Total Objects: 8" in out
    # objects, deltas, content deltas (all but the reference's own), references' bytes,
    # logical, stored, saved
    total = r"^\s*TOTAL\s+8\s+8\s+7\s+\S+ \S+\s+\S+ \S+\s+\S+ \S+\s+(\d+\.\d)%\s*$"
    saved = re.search(total, out, re.M)
    assert saved is not None, out
    assert float(saved.group(1)) > 80
    assert "all 8 builds came back byte-identical" in out
    stored = sorted(p.name for p in (tmp_path / "qs/store/releases/myapp").iterdir())
    assert "reference.bin" in stored
    assert sum(name.endswith(".zip.delta") for name in stored) == 8
