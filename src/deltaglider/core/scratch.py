"""Private scratch space: where a file is spooled, a delta encoded, a download rebuilt
and checked before anything leaves the process.

Every private directory and temporary file the process makes is tracked while it lives,
so that an interrupted process (Ctrl-C, SIGTERM) removes them all before it exits, even
while its worker threads are still in the middle of writing them. Directories are named
`deltaglider-{pid}-...`: a later process, when it first needs one of its own, removes
those whose process is gone (killed -9); a command that makes none (`ls`, `--help`) does
not pay for looking.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_PREFIX = "deltaglider-"
_tracked: set[Path] = set()
_lock = threading.Lock()
_swept_for_pid: int | None = None  # the process that has removed the abandoned ones


def private_prefix(kind: str = "") -> str:
    """The name prefix of this process's private directories in the system temp dir; the
    first call removes those that killed processes left."""
    global _swept_for_pid  # noqa: PLW0603 (once per process, forks included)
    with _lock:
        sweep = _swept_for_pid != os.getpid()
        _swept_for_pid = os.getpid()
    if sweep:
        remove_abandoned()
    return f"{_PREFIX}{os.getpid()}-{kind}"


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A directory only this process can read, removed with everything in it on exit."""
    path = Path(tempfile.mkdtemp(prefix=private_prefix()))
    track(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        untrack(path)


def track(path: Path) -> None:
    """Remember a private directory or temporary file until `untrack`."""
    with _lock:
        _tracked.add(path)


def untrack(path: Path) -> None:
    with _lock:
        _tracked.discard(path)


def remove_tracked() -> None:
    """Remove every tracked directory and file: the way out of an interrupted process."""
    with _lock:
        paths = list(_tracked)
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def remove_abandoned(root: Path | None = None) -> None:
    """Remove the private directories of processes that are gone (killed before they
    could clean up); those of live processes, and any other name, are left alone."""
    try:
        entries = os.scandir(root or tempfile.gettempdir())  # a busy /tmp: no glob's regex
    except OSError:
        return
    with entries:
        for entry in entries:
            pid = entry.name[len(_PREFIX) :].split("-", 1)[0]
            if not (entry.name.startswith(_PREFIX) and pid.isdigit()):
                continue
            if int(pid) != os.getpid() and not _alive(int(pid)):
                shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
