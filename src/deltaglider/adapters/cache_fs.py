"""CachePort over a private, content-addressed directory that lives as long as the process."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path


class FilesystemCache:
    """References by SHA256 under `ab/cd/abcdef...`, in a private 0700 temp directory.

    The directory is made on first use and removed at exit (or by `close`). Entries are
    written to a temporary name and renamed, so no reader sees half an entry.
    """

    def __init__(self) -> None:
        self._root: Path | None = None
        self._lock = threading.Lock()

    def get(self, sha256: str) -> Path | None:
        path = self._path(sha256)
        return path if path.is_file() else None

    def put(self, sha256: str, source: Path) -> Path:
        path = self._path(sha256)
        if path.is_file():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        os.close(fd)
        try:
            shutil.copyfile(source, temp)
            os.replace(temp, path)
        finally:
            Path(temp).unlink(missing_ok=True)
        return path

    def close(self) -> None:
        """Remove the cache directory and everything in it."""
        with self._lock:
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None

    def _path(self, sha256: str) -> Path:
        return self._directory() / sha256[:2] / sha256[2:4] / sha256

    def _directory(self) -> Path:
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="deltaglider-"))  # mode 0700
                atexit.register(self.close)
            return self._root
