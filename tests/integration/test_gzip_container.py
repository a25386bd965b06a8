"""The gzip container against real streams: whatever gets a recipe rebuilds byte for byte,
and anything that is not exactly one valid gzip member is refused, never raised on."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import shutil
import struct
import subprocess
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaglider.adapters.gzip_container import GzipContainer
from deltaglider.core.errors import FormatError
from tests.artifacts import source_text


def text(seed: int, size: int) -> bytes:
    return source_text(seed, size, vocabulary=3000)


def tar_payload(seed: int = 1) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for i in range(8):
            data = text(seed * 100 + i, 40_000 + 5_000 * i)
            info = tarfile.TarInfo(f"pkg-1.0/src/mod{i}.py")
            info.size, info.mtime = len(data), 1_700_000_000 + i
            archive.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def gzip_file(payload: bytes, *, level: int, filename: str, mtime: int) -> bytes:
    raw = io.BytesIO()
    with gzip.GzipFile(filename, "wb", level, raw, mtime) as stream:
        stream.write(payload)
    return raw.getvalue()


def zlib_gzip(payload: bytes, level: int) -> bytes:
    """zlib's own gzip wrapper (wbits 31): its header says OS=unix, not Python's 255."""
    deflater = zlib.compressobj(level, zlib.DEFLATED, 31)
    return deflater.compress(payload) + deflater.flush()


def every_header_field(payload: bytes) -> bytes:
    """FTEXT, FEXTRA, FNAME, FCOMMENT and FHCRC all set, built by hand."""
    header = struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0x1F, 123456789, 0, 3)
    header += struct.pack("<H", 6) + b"AP\x02\x00hi" + b"name.tar\0" + b"a comment\0"
    header += struct.pack("<H", zlib.crc32(header) & 0xFFFF)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = deflater.compress(payload) + deflater.flush()
    return header + body + struct.pack("<II", zlib.crc32(payload), len(payload))


def tarfile_sdist(tmp_path: Path) -> tuple[bytes, bytes]:
    """As setuptools writes an sdist: tarfile's "w:gz", with the file name in the header."""
    src = tmp_path / "build" / "pkg-1.0"
    src.mkdir(parents=True)
    for i in range(5):
        (src / f"mod{i}.py").write_bytes(text(i, 30_000))
    target = tmp_path / "build" / "pkg-1.0.tar.gz"
    with tarfile.open(target, "w:gz") as archive:
        archive.add(src, arcname="pkg-1.0")
    with gzip.open(target) as stream:
        return target.read_bytes(), stream.read()


POSITIVE: dict[str, Callable[[], tuple[bytes, bytes]]] = {
    "gzip.compress-9-mtime0": lambda: (gzip.compress(p := tar_payload(), 9, mtime=0), p),
    "GzipFile-9-name": lambda: (
        gzip_file(p := tar_payload(2), level=9, filename="pkg-1.0.tar", mtime=1_700_000_000),
        p,
    ),
    "GzipFile-9-max-mtime": lambda: (
        gzip_file(p := text(3, 200_000), level=9, filename="x", mtime=0xFFFFFFFF),
        p,
    ),
    "gzip.compress-6": lambda: (gzip.compress(p := tar_payload(4), 6, mtime=12345), p),
    "zlib-1": lambda: (zlib_gzip(p := tar_payload(5), 1), p),
    "zlib-6": lambda: (zlib_gzip(p := tar_payload(6), 6), p),
    "every-header-field": lambda: (every_header_field(p := text(7, 100_000)), p),
    "empty": lambda: (gzip.compress(b"", 9, mtime=0), b""),
    "zeros": lambda: (gzip.compress(p := bytes(8 * 1024 * 1024), 9, mtime=0), p),
    "incompressible": lambda: (gzip.compress(p := random.Random(8).randbytes(300_000)), p),
}


def round_trip(tmp_path: Path, packed: bytes) -> str | None:
    """decompress, find_recipe, rebuild: the recipe (if any) must give `packed` back."""
    container = GzipContainer()
    (tmp_path / "packed").write_bytes(packed)
    assert container.decompress(tmp_path / "packed", tmp_path / "unpacked")
    recipe = container.find_recipe(tmp_path / "packed", tmp_path / "unpacked")
    if recipe is not None:
        assert recipe.isascii()
        assert len(recipe) < 1500
        container.rebuild(tmp_path / "unpacked", recipe, tmp_path / "rebuilt")
        assert (tmp_path / "rebuilt").read_bytes() == packed
    return recipe


@pytest.mark.parametrize("case", POSITIVE)
def test_zlib_made_streams_rebuild_byte_exact(tmp_path: Path, case: str) -> None:
    packed, payload = POSITIVE[case]()
    assert round_trip(tmp_path, packed) is not None
    assert (tmp_path / "unpacked").read_bytes() == payload


def test_tarfile_sdist_gets_a_level9_recipe(tmp_path: Path) -> None:
    packed, payload = tarfile_sdist(tmp_path)
    assert packed[3] & 0x08, "tarfile writes the file name into the header"
    recipe = round_trip(tmp_path, packed)
    assert recipe is not None
    assert recipe.startswith("v1;level=9;mem=8;strategy=0;header=")
    assert (tmp_path / "unpacked").read_bytes() == payload


@pytest.mark.parametrize(("level", "prefix"), [(1, "v1;level=1;mem=8;"), (6, "v1;level=6;mem=8;")])
def test_recipe_names_the_level_that_made_the_stream(
    tmp_path: Path, level: int, prefix: str
) -> None:
    recipe = round_trip(tmp_path, zlib_gzip(tar_payload(9), level))
    assert recipe is not None
    assert recipe.startswith(prefix)


def test_large_payload_round_trips(tmp_path: Path) -> None:
    """20 MB over 16 symbols: mildly compressible, many chunks each way."""
    table = bytes(b"abcdefghijklmnop"[i % 16] for i in range(256))
    payload = random.Random(10).randbytes(20 * 1024 * 1024).translate(table)
    assert round_trip(tmp_path, gzip.compress(payload, 9, mtime=0)) is not None


def test_longest_header_fits_a_recipe_and_a_longer_one_does_not(tmp_path: Path) -> None:
    payload = text(11, 50_000)
    fits = gzip_file(payload, level=9, filename="n" * 1013, mtime=0)  # 10 + 1013 + NUL
    recipe = round_trip(tmp_path, fits)
    assert recipe is not None
    assert len(recipe) < 1500
    too_long = gzip_file(payload, level=9, filename="n" * 1014, mtime=0)
    assert round_trip(tmp_path, too_long) is None


def test_other_content_gets_no_recipe(tmp_path: Path) -> None:
    container = GzipContainer()
    (tmp_path / "packed").write_bytes(gzip.compress(text(12, 100_000), 9))
    (tmp_path / "other").write_bytes(text(13, 100_000))
    assert container.find_recipe(tmp_path / "packed", tmp_path / "other") is None


GNU_FLAGS = (["-9"], ["-6"], ["-n"], ["-9", "-n"])


@pytest.mark.skipif(shutil.which("gzip") is None, reason="no gzip program")
@pytest.mark.parametrize("flags", GNU_FLAGS, ids=" ".join)
@pytest.mark.parametrize("payload", [tar_payload, lambda: text(14, 500_000)], ids=["tar", "text"])
def test_gnu_gzip_rebuilds_exactly_if_it_gets_a_recipe(
    tmp_path: Path, flags: list[str], payload: Callable[[], bytes]
) -> None:
    """GNU gzip's deflate is not zlib's: some outputs match zlib's bytes and some do not."""
    data = payload()
    (tmp_path / "pkg-1.0.tar").write_bytes(data)
    packed = subprocess.run(
        ["gzip", "-c", *flags, str(tmp_path / "pkg-1.0.tar")], capture_output=True, check=True
    ).stdout
    round_trip(tmp_path, packed)
    assert (tmp_path / "unpacked").read_bytes() == data


def corrupt(packed: bytes, at: int) -> bytes:
    return packed[:at] + bytes([packed[at] ^ 0x01]) + packed[at + 1 :]


PAYLOAD = text(15, 200_000)
GOOD = gzip.compress(PAYLOAD, 9, mtime=0)
OTHER = text(16, 1_000)

NEGATIVE: dict[str, tuple[bytes, bytes]] = {
    "empty file": (b"", PAYLOAD),
    "not gzip": (b"PK\x03\x04" + OTHER, PAYLOAD),
    "magic only": (b"\x1f\x8b", PAYLOAD),
    "header only": (GOOD[:10], PAYLOAD),
    "not deflate": (GOOD[:2] + b"\x07" + GOOD[3:], PAYLOAD),
    "reserved flag": (GOOD[:3] + b"\x20" + GOOD[4:], PAYLOAD),
    "unterminated name": (gzip_file(b"", level=9, filename="x", mtime=0)[:11], b""),
    "bad header crc": (corrupt(every_header_field(PAYLOAD), 37), PAYLOAD),
    "truncated body": (GOOD[: len(GOOD) // 2], PAYLOAD),
    "no trailer": (GOOD[:-8], PAYLOAD),
    "truncated trailer": (GOOD[:-1], PAYLOAD),
    "corrupt body": (corrupt(GOOD, len(GOOD) // 2), PAYLOAD),
    "corrupt crc": (corrupt(GOOD, len(GOOD) - 8), PAYLOAD),
    "corrupt size": (corrupt(GOOD, len(GOOD) - 1), PAYLOAD),
    "two members": (GOOD + gzip.compress(OTHER, 9, mtime=0), PAYLOAD + OTHER),
    "trailing garbage": (GOOD + b"\0", PAYLOAD),
    "trailing junk chunk": (GOOD + OTHER * 2000, PAYLOAD),
}


@pytest.mark.parametrize("case", NEGATIVE)
def test_anything_but_one_valid_member_is_refused(tmp_path: Path, case: str) -> None:
    packed, payload = NEGATIVE[case]
    container = GzipContainer()
    (tmp_path / "packed").write_bytes(packed)
    (tmp_path / "payload").write_bytes(payload)
    assert container.decompress(tmp_path / "packed", tmp_path / "unpacked") is False
    assert container.find_recipe(tmp_path / "packed", tmp_path / "payload") is None


def test_decompress_of_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="No such file"):
        GzipContainer().decompress(tmp_path / "missing.tar.gz", tmp_path / "out")


HEADER = "H4sIAAAAAAAC/w=="  # GzipFile's 10-byte header: no name, mtime 0, level 9, OS 255


@pytest.mark.parametrize(
    "recipe",
    [
        "",
        "v1",
        f"v2;level=9;mem=8;strategy=0;header={HEADER}",
        f"v1;level=9;mem=8;header={HEADER}",
        f"v1;mem=8;level=9;strategy=0;header={HEADER}",
        f"v1;level=0;mem=8;strategy=0;header={HEADER}",
        f"v1;level=10;mem=8;strategy=0;header={HEADER}",
        f"v1;level=9;mem=0;strategy=0;header={HEADER}",
        f"v1;level=9;mem=8;strategy=5;header={HEADER}",
        f"v1;level=9;mem=8;strategy=0;header={HEADER};extra=1",
        f"v1;level=9;mem=8;strategy=0;header={HEADER}\n",
        "v1;level=9;mem=8;strategy=0;header=",
        "v1;level=9;mem=8;strategy=0;header=H4sIAAAAAAAC/w",  # padding missing
        "v1;level=9;mem=8;strategy=0;header=!!!!",
        "v1;level=9;mem=8;strategy=0;header=UEsDBAAAAAAAAA==",  # not a gzip header
        "v1;level=9;mem=8;strategy=0;header=H4sIAAAAAAAC/wA=",  # a header and a byte more
        "v1;level=9;mem=8;strategy=0;header=H4sICAAAAAAC/3g=",  # FNAME never ends
        "v1;level=9;mem=8;strategy=0;header=" + "A" * 1400,
    ],
)
def test_malformed_recipe_is_a_format_error(tmp_path: Path, recipe: str) -> None:
    (tmp_path / "unpacked").write_bytes(b"data")
    with pytest.raises(FormatError, match="malformed or unknown gzip recipe") as caught:
        GzipContainer().rebuild(tmp_path / "unpacked", recipe, tmp_path / "out")
    assert "\n" not in str(caught.value)


def test_a_written_recipe_keeps_rebuilding_the_same_bytes(tmp_path: Path) -> None:
    """Recipes live in stored metadata: the format is a promise, not an implementation detail."""
    (tmp_path / "unpacked").write_bytes(b"data")
    recipe = f"v1;level=9;mem=8;strategy=0;header={HEADER}"
    GzipContainer().rebuild(tmp_path / "unpacked", recipe, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == gzip_file(b"data", level=9, filename="", mtime=0)


def corpus_dir() -> Path:
    root = os.environ.get("DG_TEST_CORPUS")
    if not root:
        pytest.skip("DG_TEST_CORPUS not set (make test fetches the corpus)")
    return Path(root)


def sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


@pytest.mark.corpus
def test_every_setuptools_sdist_rebuilds_to_its_sha256(tmp_path: Path) -> None:
    files = sorted((corpus_dir() / "setuptools-sdists").glob("*.tar.gz"))
    assert len(files) >= 5, "corpus series setuptools-sdists is incomplete"
    container = GzipContainer()
    for path in files:
        assert container.decompress(path, tmp_path / "unpacked"), path.name
        recipe = container.find_recipe(path, tmp_path / "unpacked")
        assert recipe is not None, path.name
        container.rebuild(tmp_path / "unpacked", recipe, tmp_path / "rebuilt")
        assert sha256(tmp_path / "rebuilt") == sha256(path), path.name


@pytest.mark.corpus
def test_npm_tarballs_rebuild_exactly_if_they_get_a_recipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """npm packs with Node's zlib (Chromium's fork), whose deflate bytes may differ."""
    files = sorted((corpus_dir() / "prettier-npm").glob("*.tgz"))
    assert len(files) >= 5, "corpus series prettier-npm is incomplete"
    container = GzipContainer()
    found = 0
    for path in files:
        assert container.decompress(path, tmp_path / "unpacked"), path.name
        recipe = container.find_recipe(path, tmp_path / "unpacked")
        if recipe is not None:
            found += 1
            container.rebuild(tmp_path / "unpacked", recipe, tmp_path / "rebuilt")
            assert sha256(tmp_path / "rebuilt") == sha256(path), path.name
    with capsys.disabled():
        print(f"\n[corpus] prettier-npm: {found} of {len(files)} tarballs get a gzip recipe")
