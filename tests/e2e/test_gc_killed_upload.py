"""kill -9 in the middle of a large reference's upload, then `deltaglider gc`: nothing
is left behind, not even the parts of the multipart upload that no listing shows.

The reference (160 MiB, ten 16 MiB parts) is killed once some of its parts are
stored; on the filesystem, once its temporary file holds more than a part's worth.
Not on Ceph RGW 16, where a reference goes up as one create-only PUT (FORMAT.md,
section 4): there is no multipart upload there to leave.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from deltaglider.ports import StoragePort
from tests.conftest import Backend
from tests.e2e.test_interrupt import DELTAGLIDER, HANG
from tests.integration.test_gc_uploads import pending

SIZE = 160 * 1024 * 1024
PART = 16 * 1024 * 1024
ATTEMPTS = 3  # the upload may finish before a poll sees a part: then again


def reference_part_way(storage: StoragePort, bucket: str, prefix: str) -> bool:
    """Whether a reference's upload under `prefix` has stored at least a part."""
    for upload in storage.incomplete_uploads(bucket, prefix):
        if re.fullmatch(r"reference(-[0-9a-f]{16})?\.bin", upload.key.rsplit("/", 1)[-1]):
            progress = storage.upload_progress(bucket, upload.key, upload.upload_id)
            if progress is not None and progress.size >= PART:
                return True
    return False


def kill_mid_upload(backend: Backend, source: Path, prefix: str) -> bool:
    """Upload `source`, kill -9 it once its reference is part-way; whether it was."""
    storage = backend.storage()
    process = subprocess.Popen(
        [str(DELTAGLIDER), "cp", str(source), f"s3://{backend.bucket}/{prefix}", "--no-progress"],
        env=backend.subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + HANG
    while process.poll() is None and time.monotonic() < deadline:
        if reference_part_way(storage, backend.bucket, prefix):
            process.send_signal(signal.SIGKILL)
            return process.wait(timeout=HANG) == -signal.SIGKILL
        time.sleep(0.01)
    process.kill()
    process.wait(timeout=HANG)
    return False


def test_gc_aborts_what_a_killed_upload_left(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if backend.name == "ceph":
        pytest.skip("Ceph RGW 16 takes a reference in one create-only PUT: no parts to leave")
    source = tmp_path / "disk.img"
    source.write_bytes(random.Random(16).randbytes(SIZE))
    killed = [kill_mid_upload(backend, source, f"try-{n}/") for n in range(ATTEMPTS)]
    assert any(killed), "every upload finished before a part of its reference was seen"
    left = pending(backend)
    assert left, "the killed upload left nothing to collect"

    done = subprocess.run(
        [str(DELTAGLIDER), "gc", f"s3://{backend.bucket}", "--grace", "0"],
        env=backend.subprocess_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    aborted = re.search(r"(\d+) incomplete upload\(s\) aborted", done.stdout)
    assert aborted is not None, done.stdout
    assert int(aborted[1]) >= 1, done.stdout
    assert pending(backend) == []
    with capsys.disabled():
        print(f"\n[gc after kill -9] {backend.name}: killed mid-upload {killed}, "
              f"left {len(left)} upload(s), gc: {aborted[0]}")  # fmt: skip
