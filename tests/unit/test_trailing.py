"""A digest computed behind a file's writer (core/trailing.py): ranges written in any
order, the digest that of the whole file once it is finished, the thread stopped when
the writer leaves early."""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import threading
import time
from pathlib import Path

import pytest

from deltaglider.core.trailing import READ, TrailingDigest, Unwritten, WrittenPrefix


def write_in_order(path: Path, data: bytes, order: list[tuple[int, int]]) -> str:
    """Write `data`'s ranges in `order` (as parts side by side land), reporting each."""
    with path.open("wb") as out, TrailingDigest(path, "sha256") as digest:
        out.truncate(len(data))
        for start, end in order:
            os.pwrite(out.fileno(), data[start:end], start)
            digest.written(start, end)
        return digest.finished(len(data))()


@pytest.mark.parametrize("size", [0, 1, READ - 1, READ + 1, 3 * READ + 17])
def test_ranges_in_any_order_give_the_digest_of_the_whole(tmp_path: Path, size: int) -> None:
    data = random.Random(size).randbytes(size)
    cuts = sorted({0, size, *random.Random(1).sample(range(size + 1), min(size, 9))})
    ranges = list(itertools.pairwise(cuts))
    random.Random(2).shuffle(ranges)
    assert write_in_order(tmp_path / "f", data, ranges) == hashlib.sha256(data).hexdigest()


def test_ranges_written_again_or_overlapping_are_counted_once(tmp_path: Path) -> None:
    """A part fetched again after a cut rewrites the same bytes, in chunks that need not
    start where the first attempt's did."""
    data = random.Random(3).randbytes(1000)
    ranges = [(500, 1000), (0, 300), (0, 300), (200, 450), (300, 500), (600, 700)]
    assert write_in_order(tmp_path / "f", data, ranges) == hashlib.sha256(data).hexdigest()


def test_bytes_beyond_the_prefix_are_never_read_ahead(tmp_path: Path) -> None:
    """Parts side by side fill a file made full-size first: past the written prefix it
    holds zeros, which a buffered read-ahead would keep and hash in place of the part
    written later (a fresh-clone `make test` caught that once in the test above). The
    pause lets the thread hash the first range before the rest is written."""
    data = random.Random(4).randbytes(5000)
    path = tmp_path / "f"
    with path.open("wb") as out, TrailingDigest(path, "sha256") as digest:
        out.truncate(len(data))
        os.pwrite(out.fileno(), data[:300], 0)
        digest.written(0, 300)
        time.sleep(0.2)
        os.pwrite(out.fileno(), data[300:], 300)
        digest.written(300, len(data))
        assert digest.finished(len(data))() == hashlib.sha256(data).hexdigest()


def test_leaving_before_the_end_stops_the_thread(tmp_path: Path) -> None:
    """A download cut short leaves with a gap never filled: the thread does not wait
    for it forever, and nothing is left running."""
    threads = threading.active_count()
    path = tmp_path / "f"
    with path.open("wb") as out, TrailingDigest(path, "md5") as digest:
        out.write(b"x" * 100)
        out.flush()
        digest.written(0, 100)
        wait = digest.finished(200)  # the rest never comes
    with pytest.raises(InterruptedError):
        wait()
    assert threading.active_count() == threads


def test_a_wait_for_a_prefix_returns_once_it_is_written_in_any_order() -> None:
    prefix = WrittenPrefix()
    prefix.written(0, 10)
    prefix.wait_for(10)  # already there: no wait
    done = threading.Event()

    def wait() -> None:
        prefix.wait_for(100)
        done.set()

    waiter = threading.Thread(target=wait)
    waiter.start()
    prefix.written(50, 100)  # a gap before it: not yet
    assert not done.wait(0.1)
    prefix.written(5, 50)  # overlapping what was there, closing the gap
    assert done.wait(5)
    waiter.join()
    assert prefix.length == 100


@pytest.mark.parametrize("end", ["finished short", "failed"])
def test_a_wait_beyond_what_will_be_written_ends_with_unwritten(end: str) -> None:
    prefix = WrittenPrefix()
    prefix.written(0, 10)
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            prefix.wait_for(11)
        except Unwritten as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.05)
    if end == "failed":
        prefix.failed()
    else:
        prefix.finished(10)
    waiter.join(5)
    assert not waiter.is_alive()
    assert len(errors) == 1
    prefix.wait_for(10)  # what was written stays readable
