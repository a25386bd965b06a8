"""Private scratch space: where a file is spooled, a delta encoded, a download rebuilt
and checked before anything leaves the process.

Every private directory and temporary file the process makes is tracked while it lives,
so that an interrupted process (Ctrl-C, SIGTERM) removes them all before it exits, even
while its worker threads are still in the middle of writing them; from then on, none
can be made (a worker that tries is Interrupted), and the child processes writing them
(xdelta3) are killed first, so none appears after the removal.
Directories are named `deltaglider-{pid}-...`: a later process, when it first needs one
of its own, removes those whose process is gone (killed -9); a command that makes none
(`ls`, `--help`) does not pay for looking. A download's temporary file beside its
destination (`.NAME.dg-tmp-{pid}-...`) is likewise removed by a later download into the
same folder once its process is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from deltaglider.core.interruption import Interrupted

_PREFIX = "deltaglider-"
_tracked: set[Path] = set()
# Re-entrant: the garbage collector may run a finalizer that untracks a directory (a
# dropped stream's scratch, the client's multipart store) in the middle of any
# allocation, the ones made while this lock is held included.
_lock = threading.RLock()
_swept_for_pid: int | None = None  # the process that has removed the abandoned ones
_swept_folders: set[Path] = set()  # folders whose abandoned downloads this process removed
_TEMP_MARK = ".dg-tmp-"
_closed = False  # set by remove_tracked: the process is on its way out


class Child(Protocol):
    """A child process (subprocess.Popen), as far as leaving goes."""

    def kill(self) -> None: ...


_children: set[Child] = set()


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


def private_dir(kind: str = "") -> Path:
    """A new directory only this process can read, tracked from the moment it exists."""
    prefix = private_prefix(kind)
    with _lock:
        _refuse_if_closed()
        path = Path(tempfile.mkdtemp(prefix=prefix))
        _tracked.add(path)
    return path


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A directory only this process can read, removed with everything in it on exit."""
    path = private_dir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        untrack(path)


def temp_beside(dest: Path) -> Path:
    """A name for a download's temporary file beside `dest` (renamed over it once
    checked), tracked; the first call for a folder removes those that killed processes
    left there."""
    folder = dest.parent
    with _lock:
        sweep = folder not in _swept_folders
        _swept_folders.add(folder)
    if sweep:
        _remove_abandoned_downloads(folder)
    import secrets  # noqa: PLC0415 (here: `ls` and `--help` do not load it)

    temp = folder / f".{dest.name}{_TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    track(temp)
    return temp


def _remove_abandoned_downloads(folder: Path) -> None:
    try:
        entries = os.scandir(folder)
    except OSError:
        return
    with entries:
        for entry in entries:
            if not entry.name.startswith(".") or _TEMP_MARK not in entry.name:
                continue
            pid = entry.name.rsplit(_TEMP_MARK, 1)[1].split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def track(path: Path) -> None:
    """Remember a private directory or temporary file (before it is made) until
    `untrack`."""
    with _lock:
        _refuse_if_closed()
        _tracked.add(path)


def untrack(path: Path) -> None:
    with _lock:
        _tracked.discard(path)


def track_child(child: Child) -> None:
    """Remember a running child process that writes private files until `untrack_child`;
    on the way out it is killed (at once, when the process is already leaving)."""
    with _lock:
        if _closed:
            child.kill()
        _refuse_if_closed()
        _children.add(child)


def untrack_child(child: Child) -> None:
    with _lock:
        _children.discard(child)


def remove_tracked() -> None:
    """Remove every tracked directory and file, and let no more be made: the way out of
    an interrupted process (its worker threads may still be running)."""
    global _closed  # noqa: PLW0603 (once, on the way out)
    with _lock:
        _closed = True
        for child in list(_children):  # copies: a finalizer may untrack meanwhile
            with contextlib.suppress(OSError):
                child.kill()
        for path in list(_tracked):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _refuse_if_closed() -> None:
    if _closed:
        raise Interrupted("stopped on request: the process is exiting")


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
