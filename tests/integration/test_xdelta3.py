"""The xdelta3 adapter against the real program: exact round trips for every input."""

from __future__ import annotations

import gzip
import io
import random
import tarfile
from pathlib import Path

import pytest

from deltaglider.adapters.xdelta3 import Xdelta3Codec
from deltaglider.core.errors import DiffError, DiffToolMissing


def round_trip(tmp_path: Path, source: bytes, target: bytes) -> tuple[bytes, int]:
    codec = Xdelta3Codec()
    (tmp_path / "src").write_bytes(source)
    (tmp_path / "tgt").write_bytes(target)
    codec.encode(tmp_path / "src", tmp_path / "tgt", tmp_path / "delta")
    codec.decode(tmp_path / "src", tmp_path / "delta", tmp_path / "out")
    return (tmp_path / "out").read_bytes(), (tmp_path / "delta").stat().st_size


def tarball(files: dict[str, bytes], level: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=level, mtime=0)


def test_similar_binaries_round_trip_with_a_small_delta(tmp_path: Path) -> None:
    base = random.Random(1).randbytes(300_000)
    changed = base[:1000] + b"new bytes" + base[1000:250_000] + base[250_100:]
    out, delta_size = round_trip(tmp_path, base, changed)
    assert out == changed
    assert delta_size < 2_000


def test_gzip_inputs_come_back_byte_exact(tmp_path: Path) -> None:
    """By default xdelta3 gunzips inputs and re-gzips on decode (other bytes); not here."""
    files = {f"pkg/mod{i}.py": random.Random(i).randbytes(20_000) for i in range(5)}
    old = tarball(files, level=9)
    files["pkg/mod2.py"] = files["pkg/mod2.py"][:500] + b"# changed\n"
    new = tarball(files, level=6)  # a different level: recompression would differ
    out, _ = round_trip(tmp_path, old, new)
    assert out == new


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (b"", b""),
        (b"", b"only target"),
        (b"only source", b""),
        (b"same" * 1000, b"same" * 1000),
        (bytes(range(256)) * 100, bytes(reversed(range(256))) * 100),
    ],
    ids=["both-empty", "empty-source", "empty-target", "identical", "unrelated"],
)
def test_edge_cases_round_trip(tmp_path: Path, source: bytes, target: bytes) -> None:
    assert round_trip(tmp_path, source, target)[0] == target


def test_xdelta_environment_variable_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDELTA", "-s /nonexistent")
    data = random.Random(3).randbytes(10_000)
    assert round_trip(tmp_path, data, data + b"tail")[0] == data + b"tail"


def test_missing_program_is_one_clear_error(tmp_path: Path) -> None:
    codec = Xdelta3Codec(program="xdelta3-not-installed-here")
    (tmp_path / "a").write_bytes(b"a")
    with pytest.raises(DiffToolMissing, match="apt-get install xdelta3"):
        codec.encode(tmp_path / "a", tmp_path / "a", tmp_path / "d")


def test_unusable_program_is_detected(tmp_path: Path) -> None:
    fake = tmp_path / "xdelta3"
    fake.write_text("#!/bin/sh\necho 'not xdelta'\n")
    fake.chmod(0o755)
    with pytest.raises(DiffToolMissing, match="not a usable xdelta3"):
        Xdelta3Codec(program=str(fake)).version()


def test_corrupt_delta_is_a_diff_error(tmp_path: Path) -> None:
    codec = Xdelta3Codec()
    (tmp_path / "src").write_bytes(random.Random(4).randbytes(50_000))
    (tmp_path / "delta").write_bytes(b"\xd6\xc3\xc4\x00garbage" * 10)
    with pytest.raises(DiffError, match="xdelta3 -d failed"):
        codec.decode(tmp_path / "src", tmp_path / "delta", tmp_path / "out")


def test_version_is_read(tmp_path: Path) -> None:
    assert Xdelta3Codec().version().startswith("3.")
