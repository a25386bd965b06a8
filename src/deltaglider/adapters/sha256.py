"""HashPort over hashlib: SHA256 of a file, streamed."""

from __future__ import annotations

from pathlib import Path

from deltaglider.core import progress
from deltaglider.core.errors import LocalFileError

CHUNK = 1024 * 1024


class Sha256Hasher:
    """Streams the file through hashlib, so memory stays flat for any size."""

    def file_sha256(self, path: Path) -> str:
        import hashlib  # noqa: PLC0415 (OpenSSL loads in ~2 ms: not for `ls`)

        try:
            with path.open("rb") as stream:
                digest = hashlib.sha256()
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    progress.advance(len(chunk))
                return digest.hexdigest()
        except OSError as exc:
            raise LocalFileError(f"cannot read {path}: {exc.strerror}") from None
