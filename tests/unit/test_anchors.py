"""Alignment by content (adapters/anchors.py): which stretches of a reference each
segment of a file is matched against, whatever shifted or moved between them."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from deltaglider.adapters import anchors
from deltaglider.adapters.anchors import Aligner, AnchorTable, Range

MIB = 1024 * 1024


def table_of(tmp_path: Path, data: bytes) -> AnchorTable:
    (tmp_path / "ref").write_bytes(data)
    return AnchorTable.of(tmp_path / "ref")


def covers(ranges: list[Range], offset: int, length: int) -> bool:
    return any(r.offset <= offset and offset + length <= r.end for r in ranges)


def well_formed(ranges: list[Range], size: int, budget: int) -> bool:
    ascending = all(a.end < b.offset for a, b in itertools.pairwise(ranges))
    inside = all(r.offset >= 0 and r.end <= size and r.length > 0 for r in ranges)
    return ascending and inside and sum(r.length for r in ranges) <= budget


def test_table_finds_anchors_across_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = random.Random(1).randbytes(3 * MIB)
    whole = {offset for _, offset in anchors.anchors(data)}
    monkeypatch.setattr(anchors, "SCAN", 64 * 1024)  # many reads: anchors on their seams
    table = table_of(tmp_path, data)
    assert len(whole) > 20
    assert len(table) == len(whole)
    assert table.size == len(data)
    for key, offset in anchors.anchors(data):
        assert table.find(key) == offset


def test_insertion_shifts_the_stretch_of_every_later_segment(tmp_path: Path) -> None:
    ref = random.Random(2).randbytes(8 * MIB)
    target = ref[:MIB] + random.Random(3).randbytes(300_000) + ref[MIB:]
    aligner = Aligner(table_of(tmp_path, ref), slack=64 * 1024, budget=3 * MIB)
    segment = 2 * MIB
    for start in range(0, len(target), segment):
        piece = target[start : start + segment]
        ranges = aligner.ranges(piece, start)
        assert well_formed(ranges, len(ref), 3 * MIB)
        if start >= 2 * MIB:  # wholly after the insertion: its bytes sit 300,000 earlier
            assert covers(ranges, start - 300_000, len(piece))


def test_moved_block_is_found_where_it_came_from(tmp_path: Path) -> None:
    ref = random.Random(4).randbytes(16 * MIB)
    block = ref[2 * MIB : 3 * MIB]
    target = ref[: 2 * MIB] + ref[3 * MIB : 14 * MIB] + block + ref[14 * MIB :]
    aligner = Aligner(table_of(tmp_path, ref), slack=64 * 1024, budget=6 * MIB)
    start = 12 * MIB  # the segment holding the block, far from its old place
    ranges = aligner.ranges(target[start : start + 2 * MIB], start)
    assert covers(ranges, 2 * MIB + 64 * 1024, MIB - 128 * 1024)  # the block, anchors apart
    assert covers(ranges, start + MIB, MIB - 64 * 1024)  # and its unmoved neighbours


def test_deletion_and_a_shorter_reference(tmp_path: Path) -> None:
    ref = random.Random(5).randbytes(4 * MIB)
    target = ref[:MIB] + ref[2 * MIB :] + random.Random(6).randbytes(3 * MIB)
    aligner = Aligner(table_of(tmp_path, ref), slack=64 * 1024, budget=3 * MIB)
    first = aligner.ranges(target[: MIB + MIB // 2], 0)
    assert covers(first, 0, MIB - 64 * 1024)
    assert covers(first, 2 * MIB + 64 * 1024, 256 * 1024)
    beyond = aligner.ranges(target[4 * MIB :], 4 * MIB)  # past the reference's end
    assert well_formed(beyond, len(ref), 3 * MIB)


def test_segment_without_anchors_follows_the_last_diagonal(tmp_path: Path) -> None:
    ref = random.Random(7).randbytes(2 * MIB) + bytes(2 * MIB)
    target = random.Random(8).randbytes(100_000) + ref
    aligner = Aligner(table_of(tmp_path, ref), slack=4096, budget=4 * MIB)
    aligner.ranges(target[: 2 * MIB], 0)
    zeros = aligner.ranges(target[2 * MIB + 200_000 : 3 * MIB], 2 * MIB + 200_000)
    assert covers(zeros, 2 * MIB + 100_000, MIB - 200_000)  # shifted like what came before


def test_too_frequent_marker_is_ignored() -> None:
    dense = anchors.MARKERS[0] * 100_000 + random.Random(9).randbytes(MIB)
    keys = list(anchors.anchors(dense))
    assert keys  # the second marker still anchors it
    assert all(dense[o : o + 2] == anchors.MARKERS[1] for _, o in keys)


def test_budget_keeps_the_best_voted_stretches(tmp_path: Path) -> None:
    ref = random.Random(10).randbytes(16 * MIB)
    # Four stretches of the reference, out of order, each 1 MiB.
    order = [12, 3, 8, 0]
    target = b"".join(ref[i * MIB : (i + 1) * MIB] for i in order)
    aligner = Aligner(table_of(tmp_path, ref), slack=0, budget=2 * MIB)
    ranges = aligner.ranges(target, 0)
    assert well_formed(ranges, len(ref), 2 * MIB)
    assert sum(r.length for r in ranges) == 2 * MIB


def test_large_reference_table_is_thinned_not_grown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(anchors, "MOST_ANCHORS", 12)
    ref = random.Random(11).randbytes(6 * MIB)  # ~96 anchors
    table = table_of(tmp_path, ref)
    assert 3 <= len(table) <= 12
    for key, offset in anchors.anchors(ref):
        assert table.find(key) in (None, offset)
    target = ref[:MIB] + random.Random(12).randbytes(5000) + ref[MIB:]
    aligner = Aligner(table, slack=64 * 1024, budget=8 * MIB)
    assert covers(aligner.ranges(target[2 * MIB :], 2 * MIB), 2 * MIB - 5000, 4 * MIB)
