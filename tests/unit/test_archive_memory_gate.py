"""Content forms made or rebuilt side by side stay within a memory estimate: one that
would go past it waits for another to finish; one alone runs however large it is. The
estimate is the reference's footprint: what its gzip trailer or zip directory says its
content takes, several times over."""

from __future__ import annotations

import gzip
import threading
import zipfile
from pathlib import Path

from deltaglider.adapters.archive_container import ArchiveContainer
from deltaglider.adapters.archive_footprint import PER_CONTENT, PER_FILE, footprint
from deltaglider.adapters.zstd_codec import ZstdCodec
from deltaglider.core.encoding import _ARCHIVE_GATE, _MemoryGate
from deltaglider.core.models import ObjectKey
from deltaglider.ports.archive import Unpacked
from tests.artifacts import source_text
from tests.fakes import make_service, put_file


def test_work_past_the_limit_waits_for_other_work_to_finish() -> None:
    gate = _MemoryGate(100)
    started = threading.Event()
    order: list[str] = []

    def second() -> None:
        started.set()
        with gate.holding(60):
            order.append("second")

    with gate.holding(60):
        worker = threading.Thread(target=second)
        worker.start()
        started.wait()
        worker.join(timeout=0.2)
        assert worker.is_alive()  # 60 + 60 > 100: it waits
        order.append("first")
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert order == ["first", "second"]
    assert gate.used == 0


def test_small_work_runs_side_by_side_and_large_work_runs_alone() -> None:
    gate = _MemoryGate(100)
    with gate.holding(40), gate.holding(40):
        assert gate.used == 80
    with gate.holding(500):  # larger than the limit: it runs, alone
        assert gate.used == 500
    assert gate.used == 0


def test_a_footprint_counts_the_content_a_gzip_or_zip_states(tmp_path: Path) -> None:
    """A gzip's content size is in its trailer, a zip's entries' in its directory: a
    well-compressed archive holds several times its own size once inflated."""
    content = source_text(3, 2_000_000)
    packed = tmp_path / "pkg-1.0.tar.gz"
    packed.write_bytes(gzip.compress(content, mtime=0))
    size = packed.stat().st_size
    assert size * 3 < len(content)
    assert footprint(packed) == PER_FILE * size + PER_CONTENT * len(content)

    zipped = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pkg/a.py", content[:1_200_000])
        archive.writestr("pkg/b.py", content[1_200_000:])
    size = zipped.stat().st_size
    assert footprint(zipped) == PER_FILE * size + PER_CONTENT * len(content)

    # Anything else, or a header with nothing behind it, is taken as its own content.
    for name, data in (
        ("raw.bin", content),
        ("cut.gz", b"\x1f\x8b\x08\x00"),
        ("PK.zip", b"PK" + content[:100]),
    ):
        other = tmp_path / name
        other.write_bytes(data)
        assert footprint(other) == (PER_FILE + PER_CONTENT) * len(data), name


def test_a_content_form_is_made_holding_its_reference_s_footprint(tmp_path: Path) -> None:
    """While a version's form is made, the gate holds the reference's footprint (a
    Django sdist's 260 MB, not the 85 MB of eight times its size), so that another
    form waits beside it."""
    held: list[int] = []

    class Watched(ArchiveContainer):
        def unpack(self, source: Path, reference: Path, out: Path, base: Path) -> Unpacked | None:
            held.append(_ARCHIVE_GATE.used)
            return super().unpack(source, reference, out, base)

    paths = []
    for version in range(2):
        path = tmp_path / f"pkg-1.{version}.tar.gz"
        path.write_bytes(gzip.compress(source_text(4, 1_500_000) + bytes([version]), mtime=0))
        paths.append(path)
    svc, _, _ = make_service(diff=ZstdCodec(), archive=Watched())
    for path in paths:
        put_file(svc, path, ObjectKey("bucket", f"r/{path.name}"))
    assert held == [footprint(paths[0])]
