"""Which files become deltas, and which deltas are kept."""

from __future__ import annotations

import pytest

from deltaglider.core.errors import ConfigError
from deltaglider.core.policy import DeltaPolicy, is_reserved_name


@pytest.mark.parametrize(
    ("name", "size", "expected"),
    [
        ("app-1.0.zip", 50_000, True),
        ("lib.JAR", 50_000, True),
        ("pkg-1.0.tar.gz", 50_000, True),
        ("numpy-2.0-cp311.whl", 50_000, True),
        ("firmware.bin", 50_000, True),
        ("notes.txt", 50_000, False),
        ("data.json", 50_000, False),
        ("app.zip", 100, False),  # too small to gain anything
        ("reference.bin", 10, False),  # reserved names follow the same rules...
        ("reference.bin", 50_000, True),  # ...only their stored key differs
        ("weird.delta", 10, False),
    ],
)
def test_delta_candidates(name: str, size: int, expected: bool) -> None:
    assert DeltaPolicy().should_use_delta(name, size) is expected


def test_ratio_decides_whether_a_delta_is_kept() -> None:
    policy = DeltaPolicy(max_ratio=0.5)
    assert policy.keeps_delta(500, 1000)
    assert not policy.keeps_delta(501, 1000)
    assert not DeltaPolicy(max_ratio=1.0).keeps_delta(0, 0)


def test_reserved_names() -> None:
    assert is_reserved_name("reference.bin")
    assert is_reserved_name("x.delta")
    assert is_reserved_name(".dg-index.json")
    assert is_reserved_name(".dg-anything-later-versions-use")
    assert not is_reserved_name("reference.bin.txt")
    assert not is_reserved_name("a.dg-index.json")


@pytest.mark.parametrize("ratio", [-0.1, 1.5])
def test_ratio_out_of_range_is_a_config_error(ratio: float) -> None:
    with pytest.raises(ConfigError):
        DeltaPolicy(max_ratio=ratio)
