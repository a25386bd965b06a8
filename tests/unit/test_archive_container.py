"""The archive container against archives built here: every version's content form
rebuilds it byte for byte, unchanged entries are copied, changed ones re-deflated by a
proven recipe, and what no recipe rebuilds stays as it is."""

from __future__ import annotations

import gzip
import io
import random
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaglider.adapters import archive_reference, content_form
from deltaglider.adapters.archive_container import ArchiveContainer
from deltaglider.adapters.deflate import Deflate, find_params
from deltaglider.adapters.layouts import parse_tar, parse_zip
from deltaglider.core.errors import FormatError
from deltaglider.ports import Unpacked
from tests.artifacts import (
    jar,
    sdist,
    source_text,
    wheel,
    zip64,
    zip_of_streams,
    zip_of_zips,
)

STAMP = (2026, 1, 1, 0, 0, 0)
BUILDERS: dict[str, Callable[[Path, int], Path]] = {
    "wheel": wheel,
    "jar": jar,
    "zip-of-zips": zip_of_zips,
    "zip64": zip64,
    "sdist": sdist,
}


def round_trip(tmp_path: Path, source: Path, reference: Path) -> Unpacked:
    """unpack against the reference, rebuild from the form: exactly the source; and the
    base a reader makes from the needs is the one the writer made."""
    container = ArchiveContainer()
    unpacked = container.unpack(source, reference, tmp_path / "form", tmp_path / "base")
    assert unpacked is not None
    container.base(reference, unpacked.needs, tmp_path / "read-base")
    assert (tmp_path / "read-base").read_bytes() == (tmp_path / "base").read_bytes()
    container.rebuild(tmp_path / "form", reference, tmp_path / "rebuilt")
    assert (tmp_path / "rebuilt").read_bytes() == source.read_bytes()
    return unpacked


@pytest.mark.parametrize("kind", BUILDERS)
def test_every_version_rebuilds_exactly_from_its_form(tmp_path: Path, kind: str) -> None:
    build = BUILDERS[kind]
    reference = build(tmp_path / f"{kind}-0", 0)
    for version in (1, 2, 3):
        unpacked = round_trip(tmp_path, build(tmp_path / f"{kind}-{version}", version), reference)
        assert unpacked.kept == 0, "every zlib-made stream gets a recipe"
        assert unpacked.deflated >= 1


@pytest.mark.parametrize("kind", ["wheel", "jar", "zip-of-zips", "zip64"])
def test_a_version_against_itself_is_all_copies(tmp_path: Path, kind: str) -> None:
    path = BUILDERS[kind](tmp_path / kind, 1)
    unpacked = round_trip(tmp_path, path, path)
    assert unpacked.copied == unpacked.streams > 0
    assert (tmp_path / "form").stat().st_size < path.stat().st_size / 20
    assert content_form.decode_needs(unpacked.needs) == {}  # none of the reference inflated


def test_only_changed_entries_are_re_deflated(tmp_path: Path) -> None:
    """wheel() patches one module in five (another five each version), and changes the
    RECORD, METADATA and the nested table every version."""
    unpacked = round_trip(tmp_path, wheel(tmp_path / "b", 1), wheel(tmp_path / "a", 0))
    # 24 modules: 10 differ; plus METADATA, RECORD, the table's zip entry and its gzip
    assert unpacked.deflated == 10 + 2 + 2
    assert unpacked.copied == 24 - 10 + 1  # and the stored blob


def test_nested_containers_are_opened(tmp_path: Path) -> None:
    """jar(): a stored library jar and a deflated .tar.gz inside the zip."""
    unpacked = round_trip(tmp_path, jar(tmp_path / "b", 1), jar(tmp_path / "a", 0))
    node = content_form.read_form(memoryview((tmp_path / "form").read_bytes()))
    assert isinstance(node, content_form.Container)
    assert node.kind == "zip"
    kinds = {
        part.child.kind
        for part in content_form.walk(node)
        if isinstance(part, content_form.Stored | content_form.Deflated)
        and isinstance(part.child, content_form.Container)
    }
    assert kinds == {"zip", "gzip", "tar"}
    assert unpacked.stored >= 1 + 4  # the library jar, the tar's members


def test_entries_line_up_with_the_reference(tmp_path: Path) -> None:
    """A version that writes its entries in another order still gives its payloads in
    the reference's order, so the codec meets them where the reference has them."""
    names = [f"src/m{i}.py" for i in range(8)]
    bodies = {name: source_text(i, 5_000) for i, name in enumerate(names)}

    def build(path: Path, order: list[str], version: int) -> Path:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in order:
                body = bodies[name] + f"# {version}\n".encode()
                archive.writestr(zipfile.ZipInfo(name, STAMP), body, zipfile.ZIP_DEFLATED)
        return path

    reference = build(tmp_path / "a.zip", names, 0)
    version = build(tmp_path / "b.zip", list(reversed(names)), 1)
    round_trip(tmp_path, version, reference)
    node = content_form.read_form(memoryview((tmp_path / "form").read_bytes()))
    assert isinstance(node, content_form.Container)
    slots = [p.slot for p in node.parts if isinstance(p, content_form.Deflated)]
    assert slots == list(reversed(range(8)))  # file order reversed: payloads in ref order


def test_mixed_methods_comments_and_prefix_bytes(tmp_path: Path) -> None:
    """Stored, deflated, bzip2 and lzma entries side by side, an archive comment, and
    bytes before the archive (a self-extractor): bzip2 and lzma stay as they are."""

    def build(path: Path, version: int) -> Path:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for index, method in enumerate(
                [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
            ):
                body = source_text(index, 9_000) + f"v{version}".encode()
                archive.writestr(zipfile.ZipInfo(f"f{index}", STAMP), body, method)
            archive.comment = b"release " + str(version).encode()
        path.write_bytes(b"#!/bin/sh\nexec unzip\n" + buffer.getvalue())
        return path

    unpacked = round_trip(tmp_path, build(tmp_path / "b", 1), build(tmp_path / "a", 0))
    assert (unpacked.stored, unpacked.deflated, unpacked.kept) == (1, 1, 0)


def odd_deflate(body: bytes) -> bytes:
    """Deflate flushed at odd points, as other compressors do: no zlib recipe for it."""
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    pieces = [
        packer.compress(body[i : i + 777]) + packer.flush(zlib.Z_FULL_FLUSH)
        for i in range(0, len(body), 777)
    ]
    return b"".join(pieces) + packer.flush()


def test_streams_no_recipe_rebuilds_are_kept_as_they_are(tmp_path: Path) -> None:
    def build(path: Path, version: int) -> Path:
        good, odd = (source_text(seed, 9_000) + bytes([version]) for seed in (1, 2))
        return zip_of_streams(
            path,
            [("good.txt", 8, deflate(good, 6), good), ("odd.txt", 8, odd_deflate(odd), odd)],
        )

    unpacked = round_trip(tmp_path, build(tmp_path / "b", 1), build(tmp_path / "a", 0))
    assert (unpacked.deflated, unpacked.kept) == (1, 1)


def deflate(body: bytes, level: int) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    return packer.compress(body) + packer.flush()


def test_what_is_not_a_container_is_not_unpacked(tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(random.Random(1).randbytes(50_000))
    truncated = tmp_path / "cut.zip"
    truncated.write_bytes(wheel(tmp_path / "w.zip", 0).read_bytes()[:-30])
    for path in (blob, truncated):
        assert ArchiveContainer().unpack(path, blob, tmp_path / "form", tmp_path / "base") is None


def test_a_stream_over_the_limit_stays_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_reference, "STREAM_LIMIT", 50_000)
    big = source_text(3, 200_000)
    paths = []
    for version in range(2):
        path = tmp_path / f"v{version}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, body in (("big", big), ("small", big[:9_000])):
                entry = zipfile.ZipInfo(name, STAMP)
                archive.writestr(entry, body + bytes([version]), zipfile.ZIP_DEFLATED)
        paths.append(path)
    unpacked = round_trip(tmp_path, paths[1], paths[0])
    assert (unpacked.deflated, unpacked.kept) == (1, 1)


def test_gzip_members_and_trailing_bytes(tmp_path: Path) -> None:
    """Two gzip members and bytes after them: each member's stream, the rest as is."""
    paths = []
    for version in range(2):
        path = tmp_path / f"v{version}.gz"
        body = gzip.compress(source_text(4, 30_000) + bytes([version]), 9, mtime=0)
        path.write_bytes(body + gzip.compress(source_text(5, 10_000), 6, mtime=0) + b"junk")
        paths.append(path)
    unpacked = round_trip(tmp_path, paths[1], paths[0])
    assert (unpacked.deflated, unpacked.copied) == (1, 1)  # the second member is the same


def test_zip_layout_agrees_with_zipfile(tmp_path: Path) -> None:
    for build in (wheel, jar, zip64):
        path = build(tmp_path / build.__name__, 2)
        data = path.read_bytes()
        layout = parse_zip(memoryview(data))
        assert layout is not None
        infos = {i.filename.encode(): i for i in zipfile.ZipFile(path).infolist()}
        assert {s.name for s in layout.streams} == set(infos)
        for stream in layout.streams:
            info = infos[stream.name]
            assert stream.stop - stream.start == info.compress_size
            if info.compress_type == zipfile.ZIP_STORED:
                assert data[stream.start : stream.stop] == zipfile.ZipFile(path).read(info)


def test_tar_layout_names_long_paths(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    long_name = "deep/" * 40 + "file.txt"
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("short.txt", long_name):
            info = tarfile.TarInfo(name)
            info.size = 10
            tar.addfile(info, io.BytesIO(b"0123456789"))
    with tarfile.open(fileobj=(gnu := io.BytesIO()), mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(long_name)
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    for data in (buffer.getvalue(), gnu.getvalue()):
        layout = parse_tar(memoryview(data))
        assert layout is not None
        assert long_name.encode() in [s.name for s in layout.streams]


# ----------------------------------------------------------------------------- damage


def test_a_malformed_form_is_a_format_error(tmp_path: Path) -> None:
    reference = wheel(tmp_path / "a", 0)
    ArchiveContainer().unpack(
        wheel(tmp_path / "b", 1), reference, tmp_path / "form", tmp_path / "base"
    )
    good = (tmp_path / "form").read_bytes()
    damaged = {
        "magic": b"XXXX" + good[4:],
        "version": good[:4] + b"\x09" + good[5:],
        "truncated": good[:-10],
        "trailing": good + b"\0",
        "node tag": good[:5] + b"Q" + good[6:],
    }
    for label, data in damaged.items():
        (tmp_path / "bad").write_bytes(data)
        with pytest.raises(FormatError):
            ArchiveContainer().rebuild(tmp_path / "bad", reference, tmp_path / "out")
        assert label


def test_a_copy_outside_the_reference_is_a_format_error(tmp_path: Path) -> None:
    node = content_form.Container("zip", [content_form.Copy(10, 100)])
    with (tmp_path / "form").open("wb") as out:
        content_form.write_form(node, out)
    (tmp_path / "ref").write_bytes(bytes(50))
    with pytest.raises(FormatError, match="outside the reference"):
        ArchiveContainer().rebuild(tmp_path / "form", tmp_path / "ref", tmp_path / "out")


def test_the_whole_base_inflates_every_stream_and_is_never_rebuilt(tmp_path: Path) -> None:
    reference = jar(tmp_path / "a", 0)
    ArchiveContainer().base(
        reference, content_form.encode_needs(content_form.WHOLE), tmp_path / "one"
    )
    node = content_form.read_form(memoryview((tmp_path / "one").read_bytes()))
    assert content_form.count(node, content_form.Inflated) >= 16
    with pytest.raises(FormatError, match="cannot be rebuilt"):
        ArchiveContainer().rebuild(tmp_path / "one", reference, tmp_path / "out")


def test_a_version_needs_only_what_its_changed_streams_met(tmp_path: Path) -> None:
    """jar(): changed classes, and inside the stored library jar only its changed
    classes; the deflated tarball whole (nothing in it can be copied)."""
    reference = jar(tmp_path / "a", 0)
    unpacked = round_trip(tmp_path, jar(tmp_path / "b", 1), reference)
    needs = content_form.decode_needs(unpacked.needs)
    assert isinstance(needs, dict)
    layout = parse_zip(memoryview(reference.read_bytes()))
    assert layout is not None
    names = {layout.streams[i].name: need for i, need in needs.items()}
    changed_classes = {f"app/Main{i}.class".encode() for i in range(16) if i % 4 in (0, 1)}
    assert set(names) == changed_classes | {
        b"lib/util.jar",
        b"res/resources.tar.gz",
        b"META-INF/MANIFEST.MF",
    }
    assert isinstance(names[b"lib/util.jar"], dict)  # only its changed classes
    assert names[b"res/resources.tar.gz"] is content_form.WHOLE


@pytest.mark.parametrize(
    "needs",
    [b"", b"\x03", b"\x02\x01\x7f\x01", b"\x02\x01\x00\x02\x00", b"\x01\x01"],
    ids=["empty", "unknown tag", "no such stream", "inside a deflated stream", "trailing"],
)
def test_malformed_needs_are_a_format_error(tmp_path: Path, needs: bytes) -> None:
    path = tmp_path / "r.zip"
    body = source_text(1, 5_000)
    zip_of_streams(path, [("a", 8, deflate(body, 6), body)])
    with pytest.raises(FormatError):
        ArchiveContainer().base(path, needs, tmp_path / "base")


def late_flush_deflate(body: bytes, cut: int | None = None) -> bytes:
    """zlib level 6 but for one full flush late in the stream (at `cut`, else 50,000
    bytes before its end): the start of the stream is what level 6 gives, the rest is
    not."""
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    cut = len(body) - 50_000 if cut is None else cut
    return (
        packer.compress(body[:cut])
        + packer.flush(zlib.Z_FULL_FLUSH)
        + packer.compress(body[cut:])
        + packer.flush()
    )


def test_a_recipe_right_at_the_start_and_wrong_later_is_not_taken(tmp_path: Path) -> None:
    """A recipe that rebuilds the start of its stream (the quick look) and not the rest:
    the whole-stream comparison turns it down, and the stream is kept as it is."""
    paths = []
    for version in range(2):
        body = source_text(9, 600_000) + bytes([version])
        paths.append(
            zip_of_streams(
                tmp_path / f"v{version}.zip", [("big", 8, late_flush_deflate(body), body)]
            )
        )
    container = ArchiveContainer(rate=0)
    unpacked = container.unpack(paths[1], paths[0], tmp_path / "form", tmp_path / "base")
    assert unpacked is not None
    assert (unpacked.deflated, unpacked.kept) == (0, 1)
    container.rebuild(tmp_path / "form", paths[0], tmp_path / "rebuilt")
    assert (tmp_path / "rebuilt").read_bytes() == paths[1].read_bytes()


def test_a_quick_look_compares_some_of_the_stream_before_it_trusts_a_recipe() -> None:
    """zlib holds back output until its symbol buffer fills: on compressible content no
    byte comes out for the first 256 KiB (an npm tarball's tar at memLevel 9). A quick
    look that compared nothing must not take any parameters for the stream's."""
    body = bytes(range(256)) * 4096
    right = deflate(body, 6)
    wrong = random.Random(1).randbytes(len(right))
    assert find_params(body, wrong, whole=False) is None
    found = find_params(body, right, whole=False)
    assert found is not None
    assert found.params == Deflate(6, 8, 0)


def test_a_tar_header_checksummed_with_signed_bytes_is_a_header() -> None:
    """Old tars summed the header as signed chars: a name with bytes above 127 makes that
    sum differ from the unsigned one, and either is accepted."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        info = tarfile.TarInfo("caf\u00e9-\u00e9t\u00e9.txt")
        info.size = 3
        archive.addfile(info, io.BytesIO(b"abc"))
    header = bytearray(buffer.getvalue()[:512])
    blanked = bytes(header[:148]) + b" " * 8 + bytes(header[156:])
    signed = sum(blanked) - 256 * sum(1 for byte in blanked if byte > 127)
    assert signed != sum(blanked)
    header[148:156] = b"%06o\0 " % signed
    layout = parse_tar(memoryview(bytes(header) + buffer.getvalue()[512:]))
    assert layout is not None
    assert [stream.name for stream in layout.streams] == ["caf\u00e9-\u00e9t\u00e9.txt".encode()]
    header[150] ^= 1  # a wrong checksum: no header
    assert parse_tar(memoryview(bytes(header) + buffer.getvalue()[512:])) is None
