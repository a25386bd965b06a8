"""Streams in: one read, every digest computed on the way, small bodies kept in memory."""

from __future__ import annotations

import contextlib
import hashlib
import io
import random
import threading

import pytest

from deltaglider.core.errors import IncompleteBody
from deltaglider.core.spool import CHUNK, spool


def body_of(size: int, seed: int = 3) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 5000])
@pytest.mark.parametrize("in_memory", [0, 1024])
def test_digests_and_bytes_around_the_memory_threshold(size: int, in_memory: int) -> None:
    data = body_of(size)
    with spool(io.BytesIO(data), in_memory=in_memory) as spooled:
        assert spooled.size == size
        assert spooled.sha256 == hashlib.sha256(data).hexdigest()
        assert spooled.md5 == hashlib.md5(data).hexdigest()
        assert spooled.etag == spooled.md5
        assert (spooled.data is not None) == (size <= in_memory and in_memory > 0)
        assert spooled.path().read_bytes() == data
        with spooled.open() as stream:
            assert stream.read() == data
        source = spooled.source()
        assert (source if isinstance(source, bytes) else source.read_bytes()) == data
        work = spooled.work
    assert not work.exists()  # the copy goes with the block


def test_an_iterable_of_chunks_of_any_sizes() -> None:
    data = body_of(300_000)
    chunks = [data[i : i + 7919] for i in range(0, len(data), 7919)]
    with spool(iter(chunks), in_memory=4096) as spooled:
        assert spooled.path().read_bytes() == data
        assert spooled.sha256 == hashlib.sha256(data).hexdigest()
        assert spooled.md5 == hashlib.md5(data).hexdigest()  # told of the disk at the end


def test_the_md5_of_a_large_body_follows_the_writer_and_waits_for_it() -> None:
    """A body on disk has its MD5 hashed by a thread behind the writer: asked for at
    once, it waits for the thread; the SHA256 is there when the spool is."""
    data = body_of(3 * CHUNK + 12345)
    chunks = (data[i : i + 999_983] for i in range(0, len(data), 999_983))
    with spool(chunks, in_memory=4096) as spooled:
        assert spooled.data is None
        assert spooled.md5 == hashlib.md5(data).hexdigest()
        assert spooled.sha256 == hashlib.sha256(data).hexdigest()


def test_leaving_before_the_md5_is_asked_for_stops_its_thread() -> None:
    """A spool left early (a failed upload, Ctrl-C) stops the MD5 thread before its
    scratch copy goes, and leaves none running."""
    threads = threading.active_count()
    for _ in range(5):
        with contextlib.suppress(RuntimeError), spool(io.BytesIO(body_of(2 * CHUNK))) as spooled:
            work = spooled.work
            raise RuntimeError("the upload failed")
        assert not work.exists()
    assert threading.active_count() == threads


@pytest.mark.parametrize("declared", [99, 101])
def test_a_body_that_is_not_its_declared_size_is_refused(declared: int) -> None:
    with (
        pytest.raises(IncompleteBody, match="declared as"),
        spool(io.BytesIO(bytes(100)), size=declared),
    ):
        pass
