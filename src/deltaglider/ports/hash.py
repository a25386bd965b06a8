"""HashPort: content digests."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class HashPort(Protocol):
    """SHA256 of files, read in chunks so memory stays flat whatever the size."""

    def file_sha256(self, path: Path) -> str:
        """Lowercase hex SHA256 of the file's bytes."""
        ...
