"""The progress bar: every pass over a transfer's bytes moves it, it never runs ahead of
the transfers, and it fills when they end (rich's own Progress, drawn into a buffer)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from deltaglider.adapters.archive_container import ArchiveContainer
from deltaglider.adapters.sha256 import Sha256Hasher
from deltaglider.adapters.zstd_codec import ZstdCodec
from deltaglider.app.cli.transfers import _Share
from deltaglider.core import progress
from deltaglider.core.spool import spool
from tests.artifacts import wheel

MIB = 1024 * 1024


def bar() -> Progress:
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    return Progress(console=console, auto_refresh=False)


def test_each_pass_fills_half_of_what_is_left_and_the_end_fills_the_rest() -> None:
    with bar() as drawn:
        task = drawn.add_task("1 file(s)", total=100 * MIB)
        share = _Share(drawn, task, 100 * MIB)
        seen = []
        for _ in range(4):  # four whole passes, reported 1 MiB at a time
            for _ in range(100):
                share.report(MIB)
            seen.append(drawn.tasks[0].completed / MIB)
        share.fill()
        assert [round(value, 3) for value in seen] == [50.0, 75.0, 87.5, 93.75]
        assert drawn.tasks[0].completed == 100 * MIB


def test_many_threads_reporting_never_overfill() -> None:
    """boto3 reports a send from its own threads."""
    with bar() as drawn:
        task = drawn.add_task("1 file(s)", total=8 * MIB)
        share = _Share(drawn, task, 8 * MIB)

        def passes() -> None:
            for _ in range(200):
                share.report(64 * 1024)

        threads = [threading.Thread(target=passes) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert 0 < drawn.tasks[0].completed < 8 * MIB
        share.fill()
        share.fill()
        assert drawn.tasks[0].completed == 8 * MIB


def test_the_passes_report_every_byte_they_go_through(tmp_path: Path) -> None:
    """Read and hashed (spool), encoded and rebuilt (the codec), checked (SHA256)."""
    source, target = tmp_path / "v1", tmp_path / "v2"
    source.write_bytes(bytes(range(256)) * 12000)
    target.write_bytes(bytes(range(1, 256)) * 12100)
    size = target.stat().st_size
    codec = ZstdCodec()

    def told(work: Callable[[], object]) -> int:
        counts: list[int] = []
        with progress.watched(counts.append):
            work()
        return sum(counts)

    def read() -> None:
        with target.open("rb") as body, spool(body, in_memory=0):
            pass

    assert told(read) == size
    assert told(lambda: codec.encode(source, target, tmp_path / "delta")) == size
    assert told(lambda: codec.decode(source, tmp_path / "delta", tmp_path / "back")) == size
    assert told(lambda: Sha256Hasher().file_sha256(tmp_path / "back")) == size
    assert (tmp_path / "back").read_bytes() == target.read_bytes()


def test_work_in_another_thread_is_not_this_transfers() -> None:
    counts: list[int] = []
    with progress.watched(counts.append):
        progress.advance(3)
        other = threading.Thread(target=progress.advance, args=(5,))
        other.start()
        other.join()
    progress.advance(7)  # nobody watching
    assert counts == [3]


def test_rebuilding_a_container_reports_the_bytes_it_writes(tmp_path: Path) -> None:
    """A content delta's download spends most of its time re-deflating entries: the bar
    moves while the file is rebuilt."""
    reference = wheel(tmp_path / "pkg-1.0.whl", 0)
    version = wheel(tmp_path / "pkg-1.1.whl", 1)
    container = ArchiveContainer()
    assert container.unpack(version, reference, tmp_path / "form", tmp_path / "base")
    counts: list[int] = []
    with progress.watched(counts.append):
        container.rebuild(tmp_path / "form", reference, tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == version.read_bytes()
    assert sum(counts) == version.stat().st_size
    assert len(counts) > 1
