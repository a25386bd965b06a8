"""What `sync` does, decided from two listings alone: a pure merge walk.

Both sides are lists of `FileStat` keyed by the path relative to their roots. A file
only at the source is transferred; at both, it is transferred when the strategy says it
changed; only at the destination, it is deleted when `--delete` was given.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

TOLERANCE_SECONDS = 1.0  # filesystems and stores keep times at different precisions


class Direction(StrEnum):
    UPLOAD = "upload"
    DOWNLOAD = "download"
    COPY = "copy"


@dataclass(frozen=True)
class FileStat:
    """One file or logical object as a listing shows it."""

    key: str  # path relative to the root, with `/`
    size: int
    mtime: datetime


@dataclass(frozen=True)
class SyncAction:
    """A transfer of `source` (to where `target` is, if anywhere), or a delete of `target`."""

    kind: str  # "transfer" or "delete"
    key: str
    source: FileStat | None
    target: FileStat | None


@dataclass(frozen=True)
class SyncStrategy:
    """How a file present on both sides is judged (aws `sync` rules)."""

    direction: Direction
    size_only: bool = False
    exact_timestamps: bool = False

    def changed(self, source: FileStat, target: FileStat) -> bool:
        if source.size != target.size:
            return True
        if self.size_only:
            return False
        ahead = (target.mtime - source.mtime).total_seconds()
        if self.direction is Direction.DOWNLOAD:
            if self.exact_timestamps:
                return abs(ahead) >= TOLERANCE_SECONDS
            return ahead > TOLERANCE_SECONDS  # a newer local copy is left alone
        return ahead < -TOLERANCE_SECONDS  # the destination must be at least as new


def plan_sync(
    sources: Iterable[FileStat],
    targets: Iterable[FileStat],
    strategy: SyncStrategy,
    *,
    delete: bool = False,
) -> Iterator[SyncAction]:
    """The actions that make the target side match the source side, in key order."""
    source_map = {stat.key: stat for stat in sources}
    target_map = {stat.key: stat for stat in targets}
    for key in sorted(source_map.keys() | target_map.keys(), key=str.encode):
        source, target = source_map.get(key), target_map.get(key)
        if source is None:
            if delete:
                yield SyncAction("delete", key, None, target)
        elif target is None or strategy.changed(source, target):
            yield SyncAction("transfer", key, source, target)
