"""A similarity sketch of a file's content, kept with each reference, so a new file is
delta'd against the reference most like it, not the one whose name or age fits.

A file's *features* are 32-bit hashes of what it holds (the archive port gives them: an
archive's entries by their CRC32 and size, one feature per 16 KiB of entry so that
large entries weigh more; other files' blocks). The sketch keeps the K smallest
distinct ones (a bottom-k MinHash); two sketches estimate the Jaccard similarity of
their files' feature sets from their union's K smallest hashes. Comparing sketches
costs nothing; no reference is downloaded to choose one.

Stored as `dg-sketch: 1:{base64 of K big-endian 32-bit hashes}` (docs/FORMAT.md
section 3): about 260 characters, within S3's 2 KB of metadata beside the rest.
"""

from __future__ import annotations

import base64
import binascii
import heapq
from collections.abc import Iterable
from dataclasses import dataclass

K = 48
VERSION = "1"


@dataclass(frozen=True)
class Sketch:
    """The K smallest feature hashes of a file (fewer for a file with fewer features)."""

    hashes: frozenset[int]

    @classmethod
    def of(cls, features: Iterable[int]) -> Sketch:
        """The K smallest distinct features, kept as they come: memory does not follow
        their number (a 20 GB file has 1.2 million; a set of them took 64 MB)."""
        largest_first: list[int] = []  # negated: a max-heap of the K kept
        kept: set[int] = set()
        for feature in features:
            if feature in kept:
                continue
            if len(kept) < K:
                heapq.heappush(largest_first, -feature)
            elif feature < -largest_first[0]:
                kept.discard(-heapq.heapreplace(largest_first, -feature))
            else:
                continue
            kept.add(feature)
        return cls(frozenset(kept))

    def similarity(self, other: Sketch) -> float:
        """Estimated Jaccard similarity of the two files' features, 0 to 1."""
        union = heapq.nsmallest(K, self.hashes | other.hashes)
        if not union:
            return 0.0
        return sum(1 for h in union if h in self.hashes and h in other.hashes) / len(union)

    def to_text(self) -> str:
        packed = b"".join(h.to_bytes(4, "big") for h in sorted(self.hashes))
        return f"{VERSION}:{base64.b64encode(packed).decode('ascii')}"

    @classmethod
    def from_text(cls, text: str | None) -> Sketch | None:
        """A sketch as `to_text` wrote it; None for none, another version, or garbage
        (the reference is then chosen as if it had none)."""
        if not text or not text.startswith(f"{VERSION}:"):
            return None
        try:
            packed = base64.b64decode(text[len(VERSION) + 1 :], validate=True)
        except binascii.Error:
            return None
        if len(packed) % 4 or len(packed) > 4 * K:
            return None
        return cls(
            frozenset(int.from_bytes(packed[i : i + 4], "big") for i in range(0, len(packed), 4))
        )
