"""ArchivePort: containers (zip-family archives, gzip streams, tars) looked into, nested."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Unpacked:
    """What a version's content form holds: its streams (nested ones included), how many
    are copied from the reference, re-deflated on download, stored (their content as
    it is), or kept as they are (no recipe rebuilds them); and which part of the
    reference its delta is made against (`needs`, kept with the delta)."""

    copied: int
    deflated: int
    stored: int
    kept: int
    needs: bytes

    @property
    def streams(self) -> int:
        return self.copied + self.deflated + self.stored + self.kept


class ArchivePort(Protocol):
    """Looks inside containers so that deltas see their content, lined up with the
    reference's, and rebuilds them byte for byte.

    One changed file inside an archive rewrites its whole compressed stream, so a delta
    of the archive's bytes carries every changed entry in full. A delta of the content
    carries only what changed. A version's *content form* is made against the reference
    and holds everything needed to rebuild the version from itself and the reference's
    bytes, every recipe in it proven by comparison. Its delta is made against the
    reference's *base*: only the reference's streams that the version's changed ones
    met, inflated, a pure function of the reference's bytes and the version's `needs`;
    so making and reading a delta costs what changed, not what the whole archive holds.
    """

    @property
    def kind(self) -> str:
        """Recorded in metadata (`dg-container`): "archive"."""
        ...

    @property
    def version(self) -> int:
        """Of the content form written, recorded in the recipe (`v1`)."""
        ...

    def unpack(self, source: Path, reference: Path, out: Path, base: Path) -> Unpacked | None:
        """Write to `out` the content form of `source` made against `reference`, and to
        `base` the part of the reference its delta is to be made against; None when
        `source` is not a container looked into. Every recipe in the form was proven on
        its whole stream, and its stream remembered, so that the caller's proof (a
        rebuild of the whole file) does not deflate it again."""
        ...

    def footprint(self, path: Path) -> int:
        """About the bytes a content form made against `path` (or a rebuild against it)
        holds at its peak: several times its inflated content, told from its headers."""
        ...

    def features(self, path: Path) -> Iterator[int]:
        """32-bit hashes of what the file holds, for its similarity sketch: an archive's
        entries by content (more for larger ones), else blocks of the file."""
        ...

    def base(self, reference: Path, needs: bytes, out: Path) -> None:
        """Write to `out` the part of `reference` that `needs` (Unpacked.needs) names,
        as `unpack` wrote it. Malformed needs raise FormatError."""
        ...

    def rebuild(self, unpacked: Path, reference: Path, out: Path) -> None:
        """Write to `out` the file a content form stands for, copies taken from
        `reference`. A malformed form raises FormatError."""
        ...
