"""CachePort: local copies of references, addressed by their SHA256."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class CachePort(Protocol):
    """Content-addressed store of reference files, so a DeltaSpace's reference is
    fetched from storage once and reused by every delta encoded or decoded against it.

    Entries are keyed by the SHA256 of their plaintext; `get` returns only entries
    whose content still matches that key.
    """

    def get(self, sha256: str) -> Path | None:
        """A readable file holding the content with this SHA256, or None."""
        ...

    def put(self, sha256: str, source: Path) -> Path:
        """Take `source` (whose SHA256 the caller checked) into the cache; return the
        path `get` would return. `source` may be moved away."""
        ...
