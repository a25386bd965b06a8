"""Similarity sketches: what they estimate, how they are written, and that they fit a
reference's metadata with its longest name."""

from __future__ import annotations

import heapq
import random

from deltaglider.core.limits import METADATA_LIMIT, metadata_size
from deltaglider.core.metadata import ReferenceMeta, read_reference
from deltaglider.core.sketch import K, Sketch


def features(seed: int, count: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.getrandbits(32) for _ in range(count)]


def test_similarity_estimates_the_share_of_features_in_common() -> None:
    common, one, other = features(1, 3000), features(2, 1000), features(3, 1000)
    a, b = Sketch.of(common + one), Sketch.of(common + other)
    assert 0.45 < a.similarity(b) < 0.95  # 3000 of 5000 in common: 0.6
    assert a.similarity(a) == 1.0
    assert a.similarity(Sketch.of(features(4, 3000))) < 0.1
    assert Sketch.of([]).similarity(a) == 0.0
    assert len(a.hashes) == K


def test_sketches_read_back_and_garbage_reads_as_none() -> None:
    sketch = Sketch.of(features(5, 500))
    assert Sketch.from_text(sketch.to_text()) == sketch
    small = Sketch.of([7, 8, 9])
    assert Sketch.from_text(small.to_text()) == small
    for text in (None, "", "2:AAAA", "1:not base64!", "1:AAA=", "1:" + "A" * 400):
        assert Sketch.from_text(text) is None


def test_a_sketch_fits_beside_the_longest_reference_name() -> None:
    text = Sketch.of(features(6, 500)).to_text()
    name = "\u4e2d" * 300  # 9 bytes each once percent-encoded
    meta = ReferenceMeta(name, "0" * 64, 10**12, None, "deltaglider/0.1.0", text).to_metadata()
    assert metadata_size(meta) <= METADATA_LIMIT
    read = read_reference(meta)
    assert read.sketch == text
    assert name.startswith(read.name)


def test_sketch_keeps_the_smallest_distinct_features_as_they_come() -> None:
    rng = random.Random(3)
    features = [rng.randrange(1 << 32) for _ in range(5000)]
    features += features[:2000]  # repeats count once
    expected = frozenset(heapq.nsmallest(K, set(features)))
    assert Sketch.of(iter(features)).hashes == expected
    assert Sketch.of(features[:10]).hashes == frozenset(features[:10])
