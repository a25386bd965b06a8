"""HashPort over hashlib: SHA256 of a file, streamed (and of a copy, as it is written)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from deltaglider.core.errors import LocalFileError

CHUNK = 1024 * 1024


class Sha256Hasher:
    """Streams the file through hashlib, so memory stays flat for any size."""

    def file_sha256(self, path: Path) -> str:
        try:
            with path.open("rb") as stream:
                return hashlib.file_digest(stream, "sha256").hexdigest()
        except OSError as exc:
            raise LocalFileError(f"cannot read {path}: {exc.strerror}") from None

    def copy_sha256(self, source: Path, destination: Path) -> str:
        digest = hashlib.sha256()
        try:
            with source.open("rb") as reader, destination.open("wb") as writer:
                while chunk := reader.read(CHUNK):
                    digest.update(chunk)
                    writer.write(chunk)
        except OSError as exc:
            raise LocalFileError(f"cannot copy {source}: {exc.strerror}") from None
        return digest.hexdigest()
