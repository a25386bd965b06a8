"""The archive container, loaded when a delta first needs it.

Every command builds a service, but only uploads and downloads of deltas look inside
archives: `ls`, `rm` and `--help` start without the layouts, the content form and the
thread pool that rebuilds deflated streams in parallel.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deltaglider.adapters.archive_container import ArchiveContainer
    from deltaglider.ports.archive import Unpacked


class LazyArchive:
    """An ArchivePort that imports and builds ArchiveContainer on its first use."""

    kind = "archive"

    def __init__(self, rate: float | None = None) -> None:
        self.rate = rate  # None: ArchiveContainer's REDEFLATE_RATE

    @cached_property
    def _loaded(self) -> ArchiveContainer:
        from deltaglider.adapters.archive_container import ArchiveContainer  # noqa: PLC0415

        return ArchiveContainer() if self.rate is None else ArchiveContainer(self.rate)

    @property
    def version(self) -> int:
        return self._loaded.version

    def unpack(self, source: Path, reference: Path, out: Path, base: Path) -> Unpacked | None:
        return self._loaded.unpack(source, reference, out, base)

    def footprint(self, path: Path) -> int:
        return self._loaded.footprint(path)

    def features(self, path: Path) -> Iterator[int]:
        return self._loaded.features(path)

    def base(self, reference: Path, needs: bytes, out: Path) -> None:
        self._loaded.base(reference, needs, out)

    def rebuild(self, unpacked: Path, reference: Path, out: Path) -> None:
        self._loaded.rebuild(unpacked, reference, out)
