"""`deltaglider cp s3://b/k NODE` into a device or a FIFO writes into it in place, as
`aws s3 cp` does, and only bytes that passed their SHA256 check; renaming a temporary
file over NODE (what a regular file gets) would turn `/dev/null` into a file.

The device is a private /dev/null made in the test's own directory: the machine's
/dev/null is never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from deltaglider.core.models import ObjectKey
from tests.artifacts import random_file, release_zip
from tests.conftest import Backend
from tests.e2e.test_cli import corrupt, fail, succeed
from tests.fakes import put_file

NULL_DEVICE = os.makedev(1, 3)  # the numbers of /dev/null


@pytest.fixture
def objects(backend: Backend, tmp_path: Path) -> dict[str, bytes]:
    """A zip stored as a delta and a text file stored whole: stored key -> bytes."""
    files = {
        "releases/app-1.0.zip": release_zip(tmp_path / "app-1.0.zip", 0, files=12),
        "releases/app-1.1.zip": release_zip(tmp_path / "app-1.1.zip", 1, files=12),
        "releases/notes.txt": random_file(tmp_path / "notes.txt", 100_000),
    }
    service = backend.service()
    for key, path in files.items():
        put_file(service, path, ObjectKey(backend.bucket, key))
    return {key: path.read_bytes() for key, path in files.items()}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


class FifoReader(threading.Thread):
    """Reads a FIFO to its end, as `cat pipe > out` would, through `path`: a second
    name of the FIFO that the command never sees, so whatever the command does to the
    name it writes to, this reader holds the FIFO itself."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.received: bytes | None = None
        self.start()

    def run(self) -> None:
        with self.path.open("rb") as pipe:
            self.received = pipe.read()

    def finish(self) -> bytes:
        """What was read, once the command has exited. A reader still waiting for a
        writer is released by opening the FIFO for writing and closing it: no bytes."""
        deadline = time.monotonic() + 10
        while self.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(OSError):  # ENXIO: no reader there (yet, or any more)
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
            self.join(0.05)
        assert self.received is not None, "the FIFO reader never finished"
        return self.received


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
@pytest.mark.parametrize("backend", ["file", "moto"], indirect=True)
def test_a_download_to_a_device_writes_into_it(
    backend: Backend, work: Path, objects: dict[str, bytes]
) -> None:
    env, bucket = backend.subprocess_env(), backend.bucket
    node = work / "null"
    os.mknod(node, stat.S_IFCHR | 0o666, NULL_DEVICE)
    for key in objects:
        lines = succeed(["cp", f"s3://{bucket}/{key}", "null"], env, work)
        assert lines == [f"download: s3://{bucket}/{key} to ./null"]
        after = node.lstat()
        assert stat.S_ISCHR(after.st_mode), f"{key}: the device became a regular file"
        assert after.st_rdev == NULL_DEVICE
    corrupt(backend, "releases/app-1.1.zip.delta")
    fail(["cp", f"s3://{bucket}/releases/app-1.1.zip", "null"], env, work, 1)
    assert stat.S_ISCHR(node.lstat().st_mode)
    assert [p.name for p in work.iterdir()] == ["null"]  # no temporary file left


@pytest.mark.parametrize("backend", ["file", "moto"], indirect=True)
def test_a_download_to_a_fifo_feeds_it_checked_bytes_only(
    backend: Backend, work: Path, objects: dict[str, bytes]
) -> None:
    """Every object arrives whole through the FIFO; a damaged one fails (exit 1) and
    the FIFO's reader gets not one byte."""
    env, bucket = backend.subprocess_env(), backend.bucket
    fifo = work / "pipe"
    os.mkfifo(fifo)
    inode = work.parent / "pipe-for-the-reader"
    os.link(fifo, inode)
    for key, data in objects.items():
        reader = FifoReader(inode)
        lines = succeed(["cp", f"s3://{bucket}/{key}", "pipe"], env, work)
        received = reader.finish()
        assert stat.S_ISFIFO(fifo.lstat().st_mode), f"{key}: the FIFO became a regular file"
        assert lines == [f"download: s3://{bucket}/{key} to ./pipe"]
        assert hashlib.sha256(received).hexdigest() == hashlib.sha256(data).hexdigest(), key

    corrupt(backend, "releases/app-1.1.zip.delta")
    reader = FifoReader(inode)
    line = fail(["cp", f"s3://{bucket}/releases/app-1.1.zip", "pipe"], env, work, 1)
    assert reader.finish() == b""
    assert "damaged" in line
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert [p.name for p in work.iterdir()] == ["pipe"]  # no temporary file left


def test_a_downloaded_first_version_is_the_users_own_copy(
    backend: Backend, objects: dict[str, bytes], work: Path
) -> None:
    """A first version downloads as its reference's bytes; from a local store those may
    come through a hard link to the stored data file. The user's file must be a copy of
    its own: writing into it in place (an append, an editor saving over it) leaves the
    stored reference, and every delta made against it, as they were."""
    env = backend.subprocess_env()
    first = f"s3://{backend.bucket}/releases/app-1.0.zip"
    succeed(["cp", first, "mine.zip"], env, work)
    mine = work / "mine.zip"
    assert mine.read_bytes() == objects["releases/app-1.0.zip"]
    assert mine.stat().st_nlink == 1
    with mine.open("r+b") as file:
        file.write(b"overwritten in place")
    with mine.open("ab") as file:
        file.write(b"appended")
    for key, data in objects.items():
        succeed(["cp", f"s3://{backend.bucket}/{key}", "again"], env, work)
        assert (work / "again").read_bytes() == data, key
