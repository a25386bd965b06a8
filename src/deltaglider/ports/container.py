"""ContainerPort: a compressed wrapper (gzip) that deltas look inside."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class ContainerPort(Protocol):
    """Unwraps a compressed stream so deltas see the bytes inside, and wraps them again.

    Compression scrambles bytes: two nearly equal tarballs give unrelated gzip streams.
    Deltas of the uncompressed bytes are small, but only worth storing if the original
    stream can be rebuilt byte for byte, so a recipe is found and proven first.
    """

    kind: str  # recorded in metadata, e.g. "gzip"

    def decompress(self, packed: Path, out: Path) -> bool:
        """Write the uncompressed content of `packed` to `out`. False when `packed` is
        not one complete, valid stream of this kind (then `out` means nothing)."""
        ...

    def find_recipe(self, packed: Path, unpacked: Path) -> str | None:
        """A recipe that rebuilds `packed` byte for byte from `unpacked` (its content),
        proven by rebuilding it; None when no known recipe does."""
        ...

    def rebuild(self, unpacked: Path, recipe: str, out: Path) -> None:
        """Write to `out` the stream that `recipe` describes around `unpacked`.
        A malformed recipe raises FormatError."""
        ...
