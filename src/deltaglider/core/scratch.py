"""Private scratch directories: where a file is spooled, a delta encoded, a download
rebuilt and checked before anything leaves the process."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A directory only this process can read, removed with everything in it on exit."""
    path = Path(tempfile.mkdtemp(prefix="deltaglider-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
