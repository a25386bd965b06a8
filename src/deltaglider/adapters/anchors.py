"""Where a piece of a file came from in its reference, found by content, not by offset.

An *anchor* is a place chosen by its bytes alone: where one of MARKERS occurs, keyed by
the KEY_BYTES after it. The same content yields the same anchors at whatever offset it
sits, so an anchor of the file whose key the reference also has once tells where that
part of the file is in the reference: the *diagonal* (reference offset minus file
offset). An insertion shifts the diagonal of everything after it; a moved block has its
own. Markers are found with `bytes.find` (C speed) and occur every ~32 KiB in
incompressible data; where a marker is too frequent (text, repeated patterns) it is
ignored for that stretch, where absent (runs of zeros) the alignment carries on from
the last diagonal seen.

The reference's anchors are kept as two sorted arrays of at most MOST_ANCHORS (16 bytes
each), thinned by key on larger references: memory does not follow the reference's size.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MARKERS = (b"\x9e\x37", b"\x5b\xd1")  # each occurs every 64 KiB in random bytes
MARKER_BYTES = 2
KEY_BYTES = 8
DENSEST = 16 * 1024  # a marker more frequent than one per this many bytes is skipped
SCAN = 32 * 1024 * 1024  # the reference is read this much at a time
# Kept of a reference at most (2 MB): one per 64 KiB up to 8 GiB of random bytes, one
# per 128 KiB up to 16 GiB, and so on: still hundreds per 32 MiB segment.
MOST_ANCHORS = 1 << 17
_FINDERS = tuple(re.compile(re.escape(m)) for m in MARKERS)


def anchors(raw: bytes, base: int = 0) -> Iterator[tuple[int, int]]:
    """(key, offset + base) of every anchor in `raw`, in no particular order: those of
    the first of MARKERS that is not too frequent in it."""
    end = len(raw) - KEY_BYTES
    most = max(1, len(raw) // DENSEST)
    for marker in _FINDERS:
        found = []
        for match in marker.finditer(raw):
            found.append(match.start())
            if len(found) > most:
                break
        else:
            for at in found:
                key = at + MARKER_BYTES
                if key <= end:
                    yield int.from_bytes(raw[key : key + KEY_BYTES], "big"), at + base
            return


@dataclass(frozen=True)
class Range:
    """A stretch of the reference: [offset, offset + length)."""

    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


class AnchorTable:
    """The anchors of a reference whose key occurs once in it, sorted by key."""

    def __init__(self, keys: array[int], offsets: array[int], size: int) -> None:
        self._keys = keys
        self._offsets = offsets
        self.size = size  # of the reference

    @classmethod
    def of(cls, source: Path) -> AnchorTable:
        """Scan a reference file, SCAN bytes at a time (overlapping by a key's length so
        no anchor straddling two reads is lost)."""
        keys, offsets = array("Q"), array("Q")
        overlap = MARKER_BYTES + KEY_BYTES - 1
        with source.open("rb") as file:
            size = _scan(file, keys, offsets, overlap)
        order = sorted(range(len(keys)), key=keys.__getitem__)
        sorted_keys, sorted_offsets = array("Q"), array("Q")
        for i, index in enumerate(order):
            key = keys[index]
            unique = (i == 0 or keys[order[i - 1]] != key) and (
                i + 1 == len(order) or keys[order[i + 1]] != key
            )
            if unique:
                sorted_keys.append(key)
                sorted_offsets.append(offsets[index])
        return cls(sorted_keys, sorted_offsets, size)

    def __len__(self) -> int:
        return len(self._keys)

    def find(self, key: int) -> int | None:
        """The reference offset of the anchor with this key, None if it has none."""
        at = bisect.bisect_left(self._keys, key)
        if at < len(self._keys) and self._keys[at] == key:
            return self._offsets[at]
        return None


def _scan(file: BinaryIO, keys: array[int], offsets: array[int], overlap: int) -> int:
    """Collect the anchors, thinned by key (only keys whose low `thin` bits are zero;
    one more bit each time MOST_ANCHORS is passed) so the table stays bounded: what a
    file's anchor is not found in, it simply does not vote for."""
    seen: set[int] = set()  # anchors of the overlap, already taken from the previous read
    position, tail, mask = 0, b"", 0
    while block := file.read(SCAN):
        data = tail + block
        base = position - len(tail)
        fresh: set[int] = set()
        for key, offset in anchors(data, base):
            if offset not in seen and not key & mask:
                keys.append(key)
                offsets.append(offset)
                fresh.add(offset)
        while len(keys) > MOST_ANCHORS:
            mask = mask << 1 | 1
            kept = [i for i, key in enumerate(keys) if not key & mask]
            keys[:] = array("Q", (keys[i] for i in kept))
            offsets[:] = array("Q", (offsets[i] for i in kept))
        position += len(block)
        tail = data[-overlap:]
        seen = {o for o in fresh if o >= position - overlap}
    return position


class Aligner:
    """Chooses, segment by segment of a file, the stretches of the reference it matches.

    `slack` is added on both sides of each stretch (so edits between anchors, and the
    bytes up to a segment's first and after its last anchor, still find their match);
    `budget` bounds the stretches' total per segment, which bounds the codec's memory.
    """

    def __init__(self, table: AnchorTable, *, slack: int, budget: int) -> None:
        self.table = table
        self.slack = slack
        self.budget = budget
        self._diagonal = 0  # of the last anchor matched: where a segment without any goes

    def ranges(self, segment: bytes, start: int) -> list[Range]:
        """The reference stretches for the file's bytes `segment` (at offset `start`):
        ascending, disjoint, within the reference, at most `budget` bytes in all."""
        end = start + len(segment)
        matches = sorted(
            (offset, found - offset)
            for key, offset in anchors(segment, start)
            if (found := self.table.find(key)) is not None
        )
        runs: list[tuple[int, int, int, int]] = []  # first, last file offset, diagonal, votes
        for offset, diagonal in matches:
            if runs and runs[-1][2] == diagonal:
                first, _, _, votes = runs[-1]
                runs[-1] = (first, offset, diagonal, votes + 1)
            else:
                runs.append((offset, offset, diagonal, 1))
        if not runs:
            runs = [(start, end, self._diagonal, 0)]
        self._diagonal = runs[-1][2]
        wanted = []
        for i, (_, _, diagonal, votes) in enumerate(runs):
            # A run stands for the file from the previous run's last anchor (the
            # segment's start for the first) to the next run's first (or its end).
            lo = runs[i - 1][1] if i else start
            hi = runs[i + 1][0] if i + 1 < len(runs) else end
            wanted.append((votes, _clip(lo + diagonal - self.slack, hi + diagonal + self.slack,
                                        self.table.size)))  # fmt: skip
        return _within(wanted, self.budget)


def _clip(lo: int, hi: int, size: int) -> Range:
    lo, hi = max(0, lo), min(size, hi)
    return Range(lo, max(0, hi - lo))


def _within(wanted: list[tuple[int, Range]], budget: int) -> list[Range]:
    """The stretches merged; when they exceed `budget`, the best voted first, the rest
    cut to what fits."""
    merged = _merge([r for _, r in wanted])
    if sum(r.length for r in merged) <= budget:
        return merged
    kept: list[Range] = []
    room = budget
    for _, stretch in sorted(wanted, key=lambda w: -w[0]):
        for piece in _minus(stretch, kept):
            take = min(piece.length, room)
            if take:
                kept = _merge([*kept, Range(piece.offset, take)])
                room -= take
    return kept


def _merge(ranges: list[Range]) -> list[Range]:
    out: list[Range] = []
    for r in sorted((r for r in ranges if r.length), key=lambda r: r.offset):
        if out and r.offset <= out[-1].end:
            last = out[-1]
            out[-1] = Range(last.offset, max(last.end, r.end) - last.offset)
        else:
            out.append(r)
    return out


def _minus(stretch: Range, kept: list[Range]) -> list[Range]:
    """The parts of `stretch` not in `kept` (ascending, disjoint)."""
    pieces, at = [], stretch.offset
    for r in kept:
        if r.end <= at or r.offset >= stretch.end:
            continue
        if r.offset > at:
            pieces.append(Range(at, r.offset - at))
        at = max(at, r.end)
    if at < stretch.end:
        pieces.append(Range(at, stretch.end - at))
    return pieces
