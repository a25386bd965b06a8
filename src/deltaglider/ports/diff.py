"""DiffPort: a binary delta codec."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable


class DiffPort(Protocol):
    """Encodes a target file as a delta against a source file, and back.

    Round trips are byte-exact for every input. `codec` names the codec in stored
    metadata, so every delta is decoded by the codec that made it.
    """

    codec: str

    def encode(self, source: Path, target: Path, delta: Path) -> None:
        """Write to `delta` the difference that turns `source` into `target`."""
        ...

    def decode(self, source: Path, delta: Path, target: Path) -> None:
        """Rebuild `target` from `source` and `delta`."""
        ...


@runtime_checkable
class HashingDiff(Protocol):
    """A codec that can also check a delta without writing its file anywhere."""

    def decoded_sha256(self, source: Path, delta: Path) -> str:
        """The SHA256 (hex) of what `delta` decodes to against `source`."""
        ...

    def decode_hashed(self, source: Path, delta: Path, target: Path) -> str:
        """Rebuild `target` and return its SHA256 (hex), hashed as it is written."""
        ...


@runtime_checkable
class FollowingDiff(Protocol):
    """A codec that reads its source in stretches, so that it can decode while the
    source is still being written (a reference downloading)."""

    def decode_following(
        self, source: Path, delta: Path, target: Path, ready: Callable[[int], None]
    ) -> str:
        """`decode_hashed`, reading no byte of `source` before `ready(n)` returned for
        an `n` beyond it (`ready` waits for the first n bytes to be written)."""
        ...


class ByteRanges(Protocol):
    """A source read by byte ranges where it is (an object in a store), not copied first."""

    size: int

    def read_into(self, offset: int, into: memoryview) -> None:
        """Fill `into` with the source's bytes from `offset` on."""
        ...


@runtime_checkable
class RangedDiff(Protocol):
    """A codec that reads its source in stretches, so that it can decode from a source
    read by ranges, reading only the stretches the delta names."""

    def decode_ranged(self, source: ByteRanges, delta: Path, target: Path) -> str:
        """`decode_hashed` from `source`'s ranges; the source's size is compared with
        the one the delta was made against."""
        ...


@runtime_checkable
class ExternalDiff(Protocol):
    """A codec run as a program the machine may lack."""

    def version(self) -> str:
        """The program's version; DiffToolMissing when it cannot run here."""
        ...
