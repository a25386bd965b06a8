"""Streams in: one read, every digest computed on the way, small bodies kept in memory."""

from __future__ import annotations

import hashlib
import io
import random

import pytest

from deltaglider.core.errors import IncompleteBody
from deltaglider.core.spool import spool


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


@pytest.mark.parametrize(("size", "part"), [(25, 10), (30, 10), (10, 10), (9, 10), (0, 10)])
def test_part_digests_make_the_multipart_etag(size: int, part: int) -> None:
    data = body_of(size)
    with spool(io.BytesIO(data), part_size=part) as spooled:
        parts = [data[i : i + part] for i in range(0, max(size, 1), part)]
        assert spooled.part_md5s == tuple(hashlib.md5(p).hexdigest() for p in parts)
        if len(parts) > 1:
            joined = b"".join(hashlib.md5(p).digest() for p in parts)
            assert spooled.etag == f"{hashlib.md5(joined).hexdigest()}-{len(parts)}"
        else:
            assert spooled.etag == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("declared", [99, 101])
def test_a_body_that_is_not_its_declared_size_is_refused(declared: int) -> None:
    with (
        pytest.raises(IncompleteBody, match="declared as"),
        spool(io.BytesIO(bytes(100)), size=declared),
    ):
        pass
