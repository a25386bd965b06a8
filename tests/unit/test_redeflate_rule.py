"""Which changed streams are stored as their content (re-deflated on download) and which
keep their compressed bytes (docs/FORMAT.md 9.1, "Writing"), and the proof that takes
the streams the recipe search compared whole from memory instead of deflating them again:
it still refuses a form with one wrong byte anywhere else."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from deltaglider.adapters import content_form
from deltaglider.adapters.archive_container import ArchiveContainer
from deltaglider.adapters.deflate import PROVEN, Deflate, Proven
from deltaglider.ports import Unpacked
from tests.artifacts import source_text, zip_of_streams
from tests.unit.test_archive_container import deflate


def build(path: Path, entries: dict[str, bytes]) -> Path:
    """A zip of deflated (level 6) entries, in the order given."""
    return zip_of_streams(path, [(n, 8, deflate(body, 6), body) for n, body in entries.items()])


def noise(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def unpack(tmp_path: Path, source: Path, reference: Path, rate: float | None = None) -> Unpacked:
    container = ArchiveContainer() if rate is None else ArchiveContainer(rate=rate)
    unpacked = container.unpack(source, reference, tmp_path / "form", tmp_path / "base")
    assert unpacked is not None
    container.rebuild(tmp_path / "form", reference, tmp_path / "rebuilt")
    assert (tmp_path / "rebuilt").read_bytes() == source.read_bytes()
    return unpacked


def test_an_entry_changed_wholesale_keeps_its_compressed_bytes(tmp_path: Path) -> None:
    """Its content delta saves nothing against its deflate bytes (a rebuilt binary, here
    other random bytes): re-deflating it on every download would buy nothing. The small
    change next to it is re-deflated."""
    same = source_text(1, 50_000)
    reference = build(tmp_path / "a.zip", {"big.bin": noise(2, 300_000), "m.py": same})
    version = build(tmp_path / "b.zip", {"big.bin": noise(3, 300_000), "m.py": same + b"# v2\n"})
    unpacked = unpack(tmp_path, version, reference)
    assert (unpacked.kept, unpacked.deflated) == (1, 1)
    assert content_form.decode_needs(unpacked.needs) == {1: content_form.WHOLE}  # not big.txt


def test_a_small_change_in_a_big_entry_is_re_deflated_or_kept_by_the_rate(
    tmp_path: Path,
) -> None:
    """A few bytes changed in 4 MB (of a binary that deflate hardly shrinks, so that only
    a delta finding the match across the whole entry shows what it saves): its delta
    saves nearly all of its compressed bytes, far more than 1 MB per second of deflating,
    so it is re-deflated; asked for more saving per second than deflating it could ever
    give, its compressed bytes are kept."""
    body = noise(4, 4_000_000)
    reference = build(tmp_path / "a.zip", {"lib.so": body})
    version = build(
        tmp_path / "b.zip", {"lib.so": body[:3_000_000] + b"patched" + body[3_000_000:]}
    )
    assert (unpack(tmp_path, version, reference).deflated, "by default") == (1, "by default")
    demanding = unpack(tmp_path, version, reference, rate=1e12)
    assert (demanding.deflated, demanding.kept) == (0, 1)
    assert unpack(tmp_path, version, reference, rate=0).deflated == 1


@pytest.fixture
def form_with_every_part(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A version whose form holds a gap, a copy, a kept stream and a deflated one (its
    recipe proven whole, so remembered); the reference and the form."""
    reference = build(
        tmp_path / "a.zip",
        {"same.py": source_text(5, 40_000), "big.bin": noise(2, 300_000), "m.py": b"x" * 9},
    )
    version = build(
        tmp_path / "b.zip",
        {
            "same.py": source_text(5, 40_000),
            "big.bin": noise(3, 300_000),
            "m.py": source_text(6, 80_000),
        },
    )
    container = ArchiveContainer()
    unpacked = container.unpack(version, reference, tmp_path / "form", tmp_path / "base")
    assert unpacked is not None
    assert (unpacked.copied, unpacked.kept, unpacked.deflated) == (1, 1, 1)
    return reference, version, tmp_path / "form"


@pytest.mark.parametrize("part", [content_form.Gap, content_form.Copy, content_form.Kept])
def test_a_remembered_proof_still_refuses_one_wrong_byte(
    tmp_path: Path, form_with_every_part: tuple[Path, Path, Path], part: type
) -> None:
    """The proof rebuilds the deflated stream from memory, and everything else from the
    decoded form: a form with one byte wrong in a gap, a copy or a kept stream rebuilds
    other bytes, which the SHA256 check refuses."""
    reference, version, form_path = form_with_every_part
    container = ArchiveContainer()
    hits = PROVEN.hits
    container.rebuild(form_path, reference, tmp_path / "good")
    assert (tmp_path / "good").read_bytes() == version.read_bytes()
    assert PROVEN.hits > hits  # the deflated stream came from memory, not from zlib
    node = content_form.read_form(memoryview(form_path.read_bytes()))
    assert isinstance(node, content_form.Container)
    index = next(i for i, p in enumerate(node.parts) if isinstance(p, part))
    node.parts[index] = _damaged(node.parts[index])
    with (tmp_path / "bad").open("wb") as out:
        content_form.write_form(node, out)
    container.rebuild(tmp_path / "bad", reference, tmp_path / "rebuilt")
    assert (tmp_path / "rebuilt").read_bytes() != version.read_bytes()


def _damaged(part: content_form.Part) -> content_form.Part:
    if isinstance(part, content_form.Copy):
        return replace(part, offset=part.offset + 1)
    assert isinstance(part, content_form.Gap | content_form.Kept)
    data = bytearray(part.data)
    data[len(data) // 2] ^= 1
    return replace(part, data=bytes(data))


def test_remembered_streams_are_bounded_and_keyed_by_content_and_parameters() -> None:
    proven = Proven(limit=100_000)
    bodies = [random.Random(seed).randbytes(40_000) for seed in range(3)]
    level6, level9 = Deflate(6, 8, 0), Deflate(9, 8, 0)
    for body in bodies:
        assert proven.deflate(body, level6) == deflate(body, 6)
    assert proven.size <= 100_000  # the oldest went
    assert proven.hits == 0
    assert proven.deflate(bodies[2], level6) == deflate(bodies[2], 6)
    assert proven.hits == 1
    assert proven.deflate(bodies[2], level9) == deflate(bodies[2], 9)  # other parameters
    assert proven.hits == 1
