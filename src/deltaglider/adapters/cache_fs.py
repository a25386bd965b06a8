"""CachePort over a content-addressed directory: `ab/cd/abcdef...` under its root."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

from deltaglider.core import scratch


class FilesystemCache:
    """Entries named by SHA256 in a two-level layout.

    With no root given, the cache lives in a private directory `deltaglider-*` under the
    system temp dir (mode 0700), removed on exit, also after an error or Ctrl-C. A root
    given (DG_CACHE_DIR) persists and may be shared by several processes: entries are
    written to a temporary name and renamed, so nobody sees half an entry.
    """

    def __init__(self, root: Path | None = None) -> None:
        self._root = root
        self._private = root is None
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        with self._lock:
            if self._root is None:
                self._root = scratch.private_dir("cache-")  # 0700, removed on any way out
                atexit.register(self.close)
            return self._root

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def fetch(self, sha256: str, destination: Path) -> bool:
        path = self._path(sha256)
        try:
            os.link(path, destination)  # same filesystem: no copy
        except FileNotFoundError:
            return False
        except OSError:
            try:
                shutil.copyfile(path, destination)
            except FileNotFoundError:
                return False
        return True

    def store(self, sha256: str, source: Path) -> None:
        path = self._path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        os.close(fd)
        try:
            shutil.copyfile(source, temp)
            os.replace(temp, path)
        finally:
            Path(temp).unlink(missing_ok=True)

    def holds(self, sha256: str) -> bool:
        with self._lock:
            if self._root is None:  # a private cache not made yet holds nothing
                return False
        return self._path(sha256).exists()

    def discard(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)

    def close(self) -> None:
        """Remove a private cache directory and everything in it (a given root stays)."""
        with self._lock:
            if self._private and self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                scratch.untrack(self._root)
                self._root = None
