"""HashPort over hashlib: SHA256 of a file, streamed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from deltaglider.core.errors import LocalFileError


class Sha256Hasher:
    """Streams the file through hashlib, so memory stays flat for any size."""

    def file_sha256(self, path: Path) -> str:
        try:
            with path.open("rb") as stream:
                return hashlib.file_digest(stream, "sha256").hexdigest()
        except OSError as exc:
            raise LocalFileError(f"cannot read {path}: {exc.strerror}") from None
