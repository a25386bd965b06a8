"""Private scratch directories: what killed processes left is removed by the next
process that needs a directory of its own, once, and nothing else is touched."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from deltaglider.core import scratch
from deltaglider.core.interruption import Interrupted


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(scratch, "_swept_for_pid", None)
    return tmp_path


def gone_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_first_private_directory_removes_those_of_gone_processes(temp_root: Path) -> None:
    dead = temp_root / f"deltaglider-{gone_pid()}-abc"
    (dead / "sub").mkdir(parents=True)
    (dead / "sub" / "body").write_bytes(b"x" * 100)
    alive = temp_root / f"deltaglider-{os.getppid()}-def"
    alive.mkdir()
    unrelated = temp_root / "deltaglider-notes"
    unrelated.mkdir()

    with scratch.scratch_dir() as mine:
        assert mine.parent == temp_root
        assert not dead.exists()
    assert alive.is_dir()
    assert unrelated.is_dir()
    assert not mine.exists()


def test_the_sweep_runs_once_per_process(temp_root: Path) -> None:
    scratch.private_prefix()
    later = temp_root / f"deltaglider-{gone_pid()}-later"
    later.mkdir()
    with scratch.scratch_dir():
        pass
    assert later.is_dir()  # left for the next process: looking costs a scan of the temp dir


def test_nothing_is_made_after_the_way_out(
    temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupted process removes what it tracked while its workers still run: a
    worker that then makes a directory or starts a file is stopped, and a child process
    writing private files (xdelta3) is killed first, so nothing appears afterwards."""
    monkeypatch.setattr(scratch, "_tracked", set())
    monkeypatch.setattr(scratch, "_children", set())
    monkeypatch.setattr(scratch, "_closed", False)
    made = scratch.private_dir()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    scratch.track_child(child)

    scratch.remove_tracked()

    assert not made.exists()
    assert child.wait(timeout=10) != 0  # killed
    with pytest.raises(Interrupted):
        scratch.private_dir()
    with pytest.raises(Interrupted):
        scratch.track(temp_root / "late.tmp")
    late = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with pytest.raises(Interrupted):
        scratch.track_child(late)
    assert late.wait(timeout=10) != 0
    assert [p.name for p in temp_root.iterdir()] == []


def test_a_later_download_removes_the_temporary_files_of_killed_ones(tmp_path: Path) -> None:
    """kill -9 leaves a download's temporary file beside its destination; the next
    download into that folder removes it once its process is gone, and leaves those of
    live processes and every other file alone."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    left = tmp_path / f".app.zip.dg-tmp-{gone.pid}-0123abcd"
    live = tmp_path / f".app.zip.dg-tmp-{os.getppid()}-89abcdef"
    user = tmp_path / ".app.zip.dg-tmp-notes"
    for path in (left, live, user):
        path.write_bytes(b"partial")
    temp = scratch.temp_beside(tmp_path / "other.zip")
    try:
        assert temp.parent == tmp_path
        assert temp.name.startswith(f".other.zip.dg-tmp-{os.getpid()}-")
        assert not left.exists()
        assert live.exists()
        assert user.exists()
    finally:
        scratch.untrack(temp)
