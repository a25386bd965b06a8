"""Private scratch directories: what killed processes left is removed by the next
process that needs a directory of its own, once, and nothing else is touched."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


class _Garbage:
    """Unreachable but for its own cycle: only the garbage collector frees it, whenever
    an allocation happens to start a collection; its finalizer untracks a directory, as
    the client's multipart store and a dropped stream's scratch directory do."""

    def __init__(self, path: Path) -> None:
        self.itself = self
        weakref.finalize(self, scratch.untrack, path)


def _in_a_thread(work: Callable[[], object]) -> str:
    """How `work` ended in a thread of its own: "done", its error, or "deadlocked"
    when it has not ended within 20 s."""
    outcome = ["deadlocked"]

    def run() -> None:
        try:
            work()
            outcome[0] = "done"
        except Exception as exc:  # reported to the test
            outcome[0] = repr(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=20)
    return outcome[0]


def test_a_collection_in_the_middle_of_tracking_does_not_deadlock(
    temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The garbage collector runs finalizers inside whatever allocation starts it, the
    ones made while scratch's lock is held included (a full `make test` hung there once:
    a finalizer's untrack waiting for the lock its own thread held in private_dir). The
    collection is forced at those points here, as the timing of a real one cannot be."""
    monkeypatch.setattr(scratch, "_tracked", set())
    monkeypatch.setattr(scratch, "_children", set())
    monkeypatch.setattr(scratch, "_closed", False)
    make_dir, remove = tempfile.mkdtemp, shutil.rmtree

    def collecting_mkdtemp(*args: Any, **kwargs: Any) -> str:
        _Garbage(temp_root / "dropped")
        gc.collect()
        return make_dir(*args, **kwargs)

    def collecting_rmtree(*args: Any, **kwargs: Any) -> None:
        _Garbage(temp_root / "dropped")
        gc.collect()
        remove(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", collecting_mkdtemp)
    assert _in_a_thread(scratch.private_dir) == "done"
    scratch.private_dir()
    scratch.track(temp_root / "dropped")  # what the finalizers untrack while it removes
    monkeypatch.setattr(shutil, "rmtree", collecting_rmtree)
    assert _in_a_thread(scratch.remove_tracked) == "done"
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
