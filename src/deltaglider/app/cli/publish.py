"""Publishing a local file: what an upload from disk adds to the service's stream API.

The service reads a stream once and stores exactly what it read. A file on disk can be
written to while it is read, so the file is looked at before and after: a file that
changed meanwhile is refused (nothing stored), and a file that did not is stored with
its own modification time, as `sync` compares it later.
"""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

from deltaglider.core.errors import LocalFileError
from deltaglider.core.models import ObjectKey, PutResult
from deltaglider.core.service import DeltaService


def publish(
    service: DeltaService, path: Path, dest: ObjectKey, *, no_delta: bool = False
) -> PutResult:
    """Upload one local file to `dest`; LocalFileError when it cannot be read whole."""
    try:
        before = path.stat()
        if not stat.S_ISREG(before.st_mode):
            raise LocalFileError(f"not a regular file: {path}")
        with path.open("rb") as stream, service.spool(stream) as spooled:
            after = path.stat()
            if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or (
                spooled.size != before.st_size
            ):
                raise LocalFileError(
                    f"{path} changed while it was being read: nothing was stored "
                    "(upload it once it is complete)"
                )
            mtime = datetime.fromtimestamp(before.st_mtime, UTC)
            return service.store(dest, spooled, mtime=mtime, no_delta=no_delta)
    except OSError as exc:
        raise LocalFileError(f"cannot read {path}: {exc.strerror}") from None
