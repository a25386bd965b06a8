"""Ctrl-C and kill -9 in the middle of a large transfer: parts in flight (multipart
uploads sent side by side, ranged downloads), a segmented delta encoded, proven and
decoded in threads (segments of 8 MiB here). Whatever the moment, nothing the store
lists reads back wrong, the destination file is either absent or exact, and the
process's private directories are gone (Ctrl-C) or removed by the next run (kill -9).
An upload killed with kill -9 can leave an incomplete upload (a multipart upload's
parts on S3, temporary files on the filesystem), which `gc` then aborts. A download
killed with kill -9 can leave its hidden temporary file beside the destination
(`.NAME.dg-tmp-PID-XXXXXXXX`), removed by the next download into that folder; the run
prints those it saw.

The file is 96 MiB (six 16 MiB parts): large enough for every parallel path, small
enough to be quick. The moments are spread over the transfer; which phase each one
hits depends on the machine, so each run prints what it saw.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from deltaglider.adapters.s3 import S3Storage
from tests.conftest import Backend
from tests.e2e.test_interrupt import DELTAGLIDER, HANG, check_store, own_dirs

SIZE = 96 * 1024 * 1024
MOMENTS = (0.4, 1.2, 2.5)  # seconds after the start
SIGNALS = {"ctrl-c": signal.SIGINT, "kill -9": signal.SIGKILL}


def stopped(arguments: list[str], env: dict[str, str], after: float, how: int) -> tuple[int, int]:
    """Run the command, signal it `after` seconds in: (exit status, pid)."""
    process = subprocess.Popen(
        [str(DELTAGLIDER), *arguments, "--no-progress"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(after)
    process.send_signal(how)
    _, err = process.communicate(timeout=HANG)
    assert "Traceback" not in err, err
    # Ctrl-C: 130, or -SIGINT when it came while Python started or ended; kill -9: -9;
    # 0 either way when the transfer had finished.
    assert process.returncode in (0, 130, -signal.SIGINT, -signal.SIGKILL), err
    return process.returncode, process.pid


@pytest.fixture
def private_tmp(tmp_path: Path) -> Path:
    path = tmp_path / "tmp"
    path.mkdir()
    return path


def test_stopping_a_large_transfer_at_any_moment(
    backend: Backend, tmp_path: Path, private_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 8 MiB segments: the two 96 MiB versions (above 64 MiB together) get the segmented
    # codec, as files of gigabytes do with the default 32 MiB
    env = backend.subprocess_env() | {"TMPDIR": str(private_tmp), "DG_SEGMENT_MB": "8"}
    rng = random.Random(96)
    first = tmp_path / "disk-1.0.img"
    first.write_bytes(rng.randbytes(SIZE))
    second = tmp_path / "disk-1.1.img"
    changed = bytearray(first.read_bytes())
    for _ in range(20):  # a few scattered edits: the second version is a delta
        at = rng.randrange(SIZE - 4096)
        changed[at : at + 4096] = rng.randbytes(4096)
    second.write_bytes(bytes(changed))
    originals = {first.name: first.read_bytes(), second.name: second.read_bytes()}
    bucket = f"s3://{backend.bucket}"
    seen: list[str] = []
    killed: list[int] = []
    abandoned: list[tuple[Path, str]] = []  # downloads killed -9 that left a temp file

    for name, how in SIGNALS.items():
        for moment in MOMENTS:
            prefix = f"{name.replace(' ', '')}-{moment}/"
            for path in (first, second):
                status, pid = stopped(["cp", str(path), f"{bucket}/{prefix}"], env, moment, how)
                seen.append(f"{name} upload {path.name} at {moment}s: {status}")
                if how == signal.SIGKILL:
                    killed.append(pid)
                else:
                    assert own_dirs(private_tmp, pid) == []
                check_store(backend, prefix, originals, tmp_path)

    done = subprocess.run(
        [str(DELTAGLIDER), "cp", str(first), f"{bucket}/full/", "--quiet"], env=env, check=False
    )
    assert done.returncode == 0
    subprocess.run(
        [str(DELTAGLIDER), "cp", str(second), f"{bucket}/full/", "--quiet"], env=env, check=True
    )
    for name, how in SIGNALS.items():
        for moment in MOMENTS:
            for path in (first, second):
                out = tmp_path / f"down-{name.replace(' ', '')}-{moment}" / path.name
                arguments = ["cp", f"{bucket}/full/{path.name}", str(out)]
                status, pid = stopped(arguments, env, moment, how)
                seen.append(f"{name} download {path.name} at {moment}s: {status}")
                if how == signal.SIGKILL:
                    killed.append(pid)
                else:
                    assert own_dirs(private_tmp, pid) == []
                if out.exists():  # there only once whole and checked
                    assert out.read_bytes() == originals[path.name]
                temps = list(out.parent.glob(".*.dg-tmp-*")) if out.parent.exists() else []
                if how == signal.SIGINT:
                    assert temps == []  # Ctrl-C removes its temporary file
                elif temps:  # kill -9 leaves it, hidden, until a later download there
                    seen.append(f"(left {temps[0].name})")
                    abandoned.append((out, path.name))

    small = tmp_path / "notes.txt"
    small.write_text("a later upload\n")
    later = subprocess.run([str(DELTAGLIDER), "cp", str(small), f"{bucket}/n/"],
                           env=env, check=False, capture_output=True)  # fmt: skip
    assert later.returncode == 0, later.stderr
    assert [d for pid in killed for d in own_dirs(private_tmp, pid)] == []
    for out, name in abandoned:  # a later download into the folder removes them
        out.unlink(missing_ok=True)
        subprocess.run([str(DELTAGLIDER), "cp", f"{bucket}/full/{name}", str(out), "--quiet"],
                       env=env, check=True)  # fmt: skip
        assert out.read_bytes() == originals[name]
        assert list(out.parent.glob(".*.dg-tmp-*")) == []
    storage = backend.storage()
    left = list(storage.incomplete_uploads(backend.bucket, ""))  # invisible to listings
    seen.append(f"incomplete uploads left: {len(left)}")
    collected = subprocess.run([str(DELTAGLIDER), "gc", bucket, "--grace", "0"],
                               env=env, check=False, capture_output=True, text=True)  # fmt: skip
    assert collected.returncode == 0, collected.stderr
    assert list(storage.incomplete_uploads(backend.bucket, "")) == []  # gc aborted them
    if isinstance(storage, S3Storage):  # seen by the server itself too
        pending = storage.client.list_multipart_uploads(Bucket=backend.bucket)
        assert pending.get("Uploads", []) == []
    with capsys.disabled():
        print(f"\n[stopped] {backend.name}: " + "; ".join(seen))
    # the signals landed mid-transfer at least once each (not only after the end)
    assert any(line.endswith(": 130") for line in seen if line.startswith("ctrl-c"))
    assert any(line.endswith(": -9") for line in seen if line.startswith("kill -9"))
