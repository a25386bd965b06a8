"""Deflate streams proven and rebuilt in pieces (adapters/deflate_pieces.py, the `r`
part of a content form), with the real zlib: rebuilt bit for bit at every level, a
stream a restart does not rebuild fails its proof and is not taken, a malformed `r`
recipe is a FormatError, and a .tar.gz series through the archive container and the
service comes back exact in a reader that remembers nothing of the writer. Streams with
stored blocks restart at byte-aligned block ends only, and a restart that fails gives way
to its alternate (a synthetic stream, and a real Django sdist)."""

from __future__ import annotations

import ctypes.util
import io
import os
import random
import tarfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from deltaglider.adapters import content_form, deflate_pieces, side_proofs
from deltaglider.adapters import content_form as form
from deltaglider.adapters.archive_container import ArchiveContainer
from deltaglider.adapters.deflate import Deflate, Proven, find_params
from deltaglider.adapters.deflate_pieces import (
    PIECE,
    Buffer,
    Params,
    Pieces,
    PiecesProof,
    Plan,
    Restart,
    find_pieces,
    rebuild,
)
from deltaglider.adapters.layouts import parse_gzip
from deltaglider.core.errors import FormatError
from tests.artifacts import source_text
from tests.unit.test_archive_container import late_flush_deflate
from tests.unit.test_archive_deltas import check_reads, service, upload

SIZE = 3 * PIECE + 300_000  # three restarts at most, pieces of at least PIECE


def deflated(content: bytes, params: Deflate) -> bytes:
    packer = zlib.compressobj(params.level, zlib.DEFLATED, -15, params.mem, params.strategy)
    return packer.compress(content) + packer.flush()


@pytest.fixture
def fresh_proofs(monkeypatch: pytest.MonkeyPatch) -> Proven:
    """A reader's process: no stream is known from the writer's proofs."""
    proven = Proven(64 * 1024 * 1024)
    monkeypatch.setattr(content_form, "PROVEN", proven)
    monkeypatch.setattr(side_proofs, "PROVEN", proven)
    return proven


@pytest.mark.parametrize("params", [Deflate(9, 8, 0), Deflate(6, 8, 0), Deflate(4, 9, 0)])
def test_a_stream_deflated_in_pieces_is_the_stream_bit_for_bit(params: Deflate) -> None:
    content = source_text(5, SIZE)
    stream = deflated(content, params)
    plan = find_pieces(stream, len(content), params)
    assert plan is not None
    pieces = plan.pieces
    assert len(pieces.restarts) >= 2
    assert pieces.length == len(stream)
    assert rebuild(content, params, pieces) == stream

    heard: list[Pieces] = []
    proof = PiecesProof(content, stream, params, plan, done=heard.append)
    assert all(proof.piece(at) for at in range(proof.tasks))
    assert heard == [pieces]  # once, when the last piece came right


def test_a_stream_a_restart_does_not_rebuild_fails_its_proof() -> None:
    """Level 6 but for one full flush in the middle: the stream's blocks end where they
    end, but no compressor restarted from them gives its bits all through."""
    content = source_text(6, SIZE)
    stream = late_flush_deflate(content, cut=2 * PIECE + 123_456)
    plan = find_pieces(stream, len(content), Deflate(6, 8, 0))
    assert plan is not None
    pieces = plan.pieces
    heard: list[Pieces] = []
    proof = PiecesProof(content, stream, Deflate(6, 8, 0), plan, done=heard.append)
    results = [proof.piece(at) for at in range(proof.tasks)]
    assert results[0]  # before the flush: zlib's own bits
    assert not all(results)
    assert heard == []
    assert proof.settled() is None
    assert rebuild(content, (6, 8, 0), pieces) != stream


def with_noise(seed: int, size: int) -> bytes:
    """Sources with 20 KB of random bytes after every 200 KB: zlib stores those blocks
    as they are (as it does a tar's images and compiled files)."""
    rng, text, out = random.Random(seed), source_text(seed, size), bytearray()
    for at in range(0, size, 200_000):
        out += text[at : at + 200_000] + rng.randbytes(20_000)
    return bytes(out)


def test_a_stream_with_stored_blocks_restarts_only_at_byte_aligned_block_ends() -> None:
    """A stored block is padded to a byte boundary, and a piece deflates from bit 0: from
    a block end at another bit, every piece holding a stored block gives other bits."""
    params = Deflate(9, 8, 0)
    content = with_noise(5, SIZE)
    stream = deflated(content, params)
    plan = find_pieces(stream, len(content), params)
    assert plan is not None
    assert len(plan.pieces.restarts) >= 2
    assert all(restart.bit % 8 == 0 for restart in plan.pieces.restarts)
    assert rebuild(content, params, plan.pieces) == stream

    ends = deflate_pieces.block_ends(stream, len(content))
    assert ends is not None
    end = Restart(len(content), len(stream) * 8)
    unaligned = [restart for restart in ends if restart.bit % 8][:5]
    assert len(unaligned) == 5
    for start in unaligned:  # a piece from there to the end holds stored blocks
        count = end.bit - start.bit
        bits = deflate_pieces.piece_bits(content, params, start.content, end.content, count)
        assert bits != deflate_pieces.stream_bits(stream, start.bit, count)


def with_a_bad_first_restart(plan: Plan, ends: list[Restart]) -> Plan:
    """`plan` with an unaligned block end before stored blocks for its first restart, and
    that restart for its alternate."""
    first = plan.pieces.restarts[0]
    bad = max(end for end in ends if end.bit % 8 and end.content < first.content)
    pieces = plan.pieces._replace(restarts=(bad, *plan.pieces.restarts[1:]))
    return Plan(pieces, (first, *plan.alternates[1:]))


def test_a_restart_that_fails_is_replaced_by_its_alternate() -> None:
    """A plan whose first restart does not give the stream's bits (an unaligned block end
    before stored blocks: as a restart where zlib's state holds more than the content,
    one of a Django sdist's 408 block ends, fails): the proof takes its alternate, the
    piece before it proven up to there, and the pieces it settles on rebuild the stream."""
    params = Deflate(9, 8, 0)
    content = with_noise(5, SIZE)
    stream = deflated(content, params)
    plan = find_pieces(stream, len(content), params)
    ends = deflate_pieces.block_ends(stream, len(content))
    assert plan is not None
    assert ends is not None
    tried = with_a_bad_first_restart(plan, ends)
    heard: list[Pieces] = []
    proof = PiecesProof(content, stream, params, tried, done=heard.append)
    assert all(proof.piece(at) for at in range(proof.tasks))
    assert heard == [plan.pieces]  # the alternate in the bad restart's place
    assert proof.settled() == plan.pieces
    assert rebuild(content, params, plan.pieces) == stream

    # Without an alternate, no pieces settle.
    tried = tried._replace(alternates=(None,) * len(tried.alternates))
    heard.clear()
    proof = PiecesProof(content, stream, params, tried, done=heard.append)
    results = [proof.piece(at) for at in range(proof.tasks)]
    assert results[0]
    assert not results[1]
    assert all(results[2:])
    assert proof.settled() is None
    assert heard == []


def test_no_pieces_for_a_short_stream_one_not_whole_or_a_fast_level() -> None:
    params = Deflate(9, 8, 0)
    content = source_text(7, SIZE)
    stream = deflated(content, params)
    assert find_pieces(deflated(content[: PIECE + 1], params), PIECE + 1, params) is None
    assert find_pieces(stream[:-100], len(content), params) is None  # cut short
    assert find_pieces(stream + b"\x00", len(content), params) is None  # bytes after its end
    assert find_pieces(stream, len(content) - 1, params) is None  # other content
    # zlib's fast levels hash only short matches: restarted with a dictionary, they give
    # other bits (measured here), so no pieces are offered for them.
    fast = Deflate(1, 9, 0)
    quick = deflated(content, fast)
    assert find_pieces(quick, len(content), fast) is None
    offered = find_pieces(quick, len(content), Deflate(9, 9, 0))  # as if it were slow
    assert offered is not None
    assert rebuild(content, fast, offered.pieces) != quick


def test_zlib_is_found_by_its_file_name_where_the_system_does_not_name_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A machine without ldconfig or a compiler: `find_library` finds nothing, and libz
    is loaded by its usual file name instead (here, the real one)."""
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    deflate_pieces._inflate_library.cache_clear()
    try:
        params = Deflate(9, 8, 0)
        content = source_text(3, SIZE)
        assert find_pieces(deflated(content, params), len(content), params) is not None
    finally:
        deflate_pieces._inflate_library.cache_clear()


def form_with(pieces: Pieces, content: bytes, params: Deflate) -> bytes:
    node = form.Container("gzip", [form.Deflated(0, params, form.Blob(content), pieces)])
    out = io.BytesIO()
    form.write_form(node, out)
    return out.getvalue()


def rebuilt(written: bytes) -> bytes:
    out = io.BytesIO()
    form.rebuild(form.read_form(memoryview(written)), memoryview(b""), out)
    return out.getvalue()


def test_an_r_part_round_trips_through_the_content_form(fresh_proofs: Proven) -> None:
    content = source_text(8, SIZE)
    params = Deflate(9, 8, 0)
    stream = deflated(content, params)
    plan = find_pieces(stream, len(content), params)
    assert plan is not None
    pieces = plan.pieces
    written = form_with(pieces, content, params)
    node = form.read_form(memoryview(written))
    assert isinstance(node, form.Container)
    part = node.parts[0]
    assert isinstance(part, form.Deflated)
    assert part.pieces == pieces
    assert rebuilt(written) == stream
    assert fresh_proofs.hits == 0  # deflated, not remembered


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: Pieces(tuple(reversed(p.restarts)), p.length),  # out of order
        lambda p: Pieces((*p.restarts, Restart(SIZE + 5, p.restarts[-1].bit + 9)), p.length),
        lambda p: Pieces(p.restarts, 1),  # shorter than its last restart
        lambda p: Pieces((), p.length),  # no restarts
        lambda p: Pieces(p.restarts, 1 << 62),  # longer than deflate makes of its content
    ],
)
def test_a_malformed_r_part_is_a_format_error(
    damage: Callable[[Pieces], Pieces], fresh_proofs: Proven
) -> None:
    content = source_text(8, SIZE)
    params = Deflate(9, 8, 0)
    plan = find_pieces(deflated(content, params), len(content), params)
    assert plan is not None
    with pytest.raises(FormatError):
        rebuilt(form_with(damage(plan.pieces), content, params))


def sdist_series(tmp_path: Path, count: int) -> list[Path]:
    """A product's .tar.gz releases as tarfile writes them (gzip level 9), 3.3 MB of
    sources each, every version's directory named after it (every tar header differs)."""
    paths = []
    for version in range(count):
        path = tmp_path / f"pkg-1.{version}.tar.gz"
        with tarfile.open(path, "w:gz") as archive:
            for index in range(12):
                body = source_text(index, 280_000)
                if index == version:
                    body += f"changed in {version}\n".encode()
                info = tarfile.TarInfo(f"pkg-1.{version}/module_{index}.py")
                info.size, info.mtime = len(body), 1_700_000_000
                archive.addfile(info, io.BytesIO(body))
        paths.append(path)
    return paths


def test_a_tar_gz_series_is_stored_with_pieces_and_read_back_exact(
    tmp_path: Path, fresh_proofs: Proven, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = sdist_series(tmp_path, 2)
    unpacked = ArchiveContainer().unpack(new, old, tmp_path / "form", tmp_path / "base")
    assert unpacked is not None
    node = form.read_form(memoryview((tmp_path / "form").read_bytes()))
    pieced = [p for p in form.walk(node) if isinstance(p, form.Deflated) and p.pieces]
    assert len(pieced) == 1  # the gzip stream of the tar
    assert pieced[0].pieces is not None
    assert len(pieced[0].pieces.restarts) >= 2

    paths = sdist_series(tmp_path, 3)
    svc = service()
    upload(svc, paths)
    reader = Proven(64 * 1024 * 1024)  # a reader's process: every stream deflated again
    monkeypatch.setattr(content_form, "PROVEN", reader)
    check_reads(service(svc.storage), paths, tmp_path / "out")  # type: ignore[arg-type]
    assert reader.hits == 0


def test_a_gzip_a_piece_does_not_rebuild_is_made_again_and_read_back_exact(
    tmp_path: Path, fresh_proofs: Proven
) -> None:
    """Its stream is zlib's level 6 but for a full flush past its first pieces: the quick
    look and the first pieces match, a later piece does not. The form is made again with
    every recipe proven whole (none rebuilds this stream), and the file is stored by its
    raw bytes, exact."""
    paths = []
    for version in range(3):
        body = source_text(11, SIZE) + bytes([version])
        stream = late_flush_deflate(body, cut=2 * PIECE + 200_000)
        assert find_pieces(stream, len(body), Deflate(6, 8, 0)) is not None
        header = bytes.fromhex("1f8b08000000000000ff")
        trailer = zlib.crc32(body).to_bytes(4, "little") + len(body).to_bytes(4, "little")
        paths.append(tmp_path / f"pkg-{version}.tgz")
        paths[-1].write_bytes(header + stream + trailer)
    svc = service()
    results = upload(svc, paths)
    stored = svc.storage.buckets["bucket"]  # type: ignore[attr-defined]
    for result in results:
        assert "dg-container" not in stored[result.stored_key].metadata
    check_reads(service(svc.storage), paths, tmp_path / "out")  # type: ignore[arg-type]


def test_a_form_holds_the_pieces_its_proof_settled_on(
    tmp_path: Path, fresh_proofs: Proven, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offered a bad first restart with the good one as its alternate (a restart zlib does
    not reproduce, made here as above), the archive container writes the pieces the
    proof settled on, and a reader that remembers nothing rebuilds every version exact."""
    offer = deflate_pieces.find_pieces

    def offering_a_bad_restart(stream: Buffer, size: int, params: Params) -> Plan | None:
        plan, ends = offer(stream, size, params), deflate_pieces.block_ends(stream, size)
        assert plan is not None
        assert ends is not None
        return with_a_bad_first_restart(plan, ends)

    monkeypatch.setattr(side_proofs, "find_pieces", offering_a_bad_restart)
    paths = []
    for version in range(3):
        body = with_noise(5, SIZE) + bytes([version])
        header = bytes.fromhex("1f8b08000000000002ff")
        trailer = zlib.crc32(body).to_bytes(4, "little") + len(body).to_bytes(4, "little")
        paths.append(tmp_path / f"blob-{version}.gz")
        paths[-1].write_bytes(header + deflated(body, Deflate(9, 8, 0)) + trailer)
    unpacked = ArchiveContainer().unpack(paths[1], paths[0], tmp_path / "form", tmp_path / "base")
    assert unpacked is not None
    node = form.read_form(memoryview((tmp_path / "form").read_bytes()))
    pieced = [p for p in form.walk(node) if isinstance(p, form.Deflated) and p.pieces]
    assert len(pieced) == 1
    stream = paths[1].read_bytes()[10:-8]
    planned = offer(stream, len(with_noise(5, SIZE)) + 1, Deflate(9, 8, 0))
    assert planned is not None
    assert pieced[0].pieces == planned.pieces  # the alternate, not the bad restart

    svc = service()
    upload(svc, paths)
    reader = Proven(64 * 1024 * 1024)
    monkeypatch.setattr(content_form, "PROVEN", reader)
    check_reads(service(svc.storage), paths, tmp_path / "out")  # type: ignore[arg-type]
    assert reader.hits == 0


@pytest.mark.corpus
def test_a_django_sdist_is_proven_and_rebuilt_in_pieces() -> None:
    """A real .tar.gz whose tar holds images and compiled translations (zlib stores some
    of its blocks): its pieces prove side by side and rebuild its stream bit for bit."""
    root = os.environ.get("DG_TEST_CORPUS")
    if not root:
        pytest.skip("DG_TEST_CORPUS not set (make test fetches the corpus)")
    files = sorted((Path(root) / "django-sdists").glob("*.tar.gz"))
    assert files, "corpus series django-sdists is missing"
    data = memoryview(files[0].read_bytes())
    layout = parse_gzip(data, 1 << 30)
    assert layout is not None
    stream = data[layout.streams[0].start : layout.streams[0].stop]
    content = layout.streams[0].content
    assert content is not None
    found = find_params(content, stream, whole=False)
    assert found is not None
    plan = find_pieces(stream, len(content), found.params)
    assert plan is not None
    assert all(restart.bit % 8 == 0 for restart in plan.pieces.restarts)  # it has stored blocks
    heard: list[Pieces] = []
    proof = PiecesProof(content, stream, found.params, plan, done=heard.append)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(proof.piece, range(proof.tasks)))
    assert len(heard) == 1
    assert heard[0] == proof.settled()
    assert rebuild(content, found.params, heard[0]) == stream
