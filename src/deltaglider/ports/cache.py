"""CachePort: local copies of references, addressed by the SHA256 of their content."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class CachePort(Protocol):
    """Keeps references so a DeltaSpace's reference is fetched from storage once and
    reused by every delta encoded or decoded against it.

    Entries are keyed by the SHA256 of their plaintext. The cache does not check
    content: the caller verifies what `fetch` wrote and `discard`s an entry that fails.
    """

    def fetch(self, sha256: str, destination: Path) -> bool:
        """Write the entry's bytes to `destination` (a path the caller owns); False if
        there is no (readable) entry."""
        ...

    def store(self, sha256: str, source: Path) -> None:
        """Keep the content of `source`, whose SHA256 the caller checked. Writing an
        entry is atomic: no reader ever sees half of one."""
        ...

    def holds(self, sha256: str) -> bool:
        """Whether there is an entry (unchecked: `fetch` may still find it unreadable)."""
        ...

    def discard(self, sha256: str) -> None:
        """Forget an entry (it failed verification)."""
        ...
