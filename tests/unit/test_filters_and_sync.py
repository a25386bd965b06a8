"""aws filter semantics and the sync decision, on plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deltaglider.core.filters import FilterRule, Filters
from deltaglider.core.sync import Direction, FileStat, SyncAction, SyncStrategy, plan_sync

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rules(*pairs: tuple[str, str]) -> Filters:
    return Filters(tuple(FilterRule(action, pattern) for action, pattern in pairs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("filters", "path", "included"),
    [
        (rules(), "anything", True),
        (rules(("exclude", "*")), "a.zip", False),
        (rules(("exclude", "*"), ("include", "*.zip")), "dir/a.zip", True),
        (rules(("include", "*.zip"), ("exclude", "*")), "dir/a.zip", False),  # later wins
        (
            rules(("exclude", "*"), ("include", "*.zip"), ("exclude", "*/old/*")),
            "x/old/a.zip",
            False,
        ),
        (rules(("exclude", "*.txt")), "docs/readme.txt", False),  # `*` matches `/` too
        (rules(("exclude", "*.txt")), "readme.TXT", True),  # case-sensitive
        (rules(("exclude", "build-?.zip")), "build-7.zip", False),
        (rules(("exclude", "[ab]*")), "b.zip", False),
    ],
)
def test_filters(filters: Filters, path: str, included: bool) -> None:
    assert filters.includes(path) is included


def stat(key: str, size: int = 10, seconds: float = 0) -> FileStat:
    return FileStat(key, size, T0 + timedelta(seconds=seconds))


def keys(actions: list[SyncAction]) -> list[tuple[str, str]]:
    return [(a.kind, a.key) for a in actions]


def test_new_changed_and_extra_files() -> None:
    sources = [stat("a"), stat("b", size=11), stat("c")]
    targets = [stat("b"), stat("c", seconds=5), stat("d")]
    upload = SyncStrategy(Direction.UPLOAD)
    assert keys(list(plan_sync(sources, targets, upload))) == [("transfer", "a"), ("transfer", "b")]
    assert keys(list(plan_sync(sources, targets, upload, delete=True))) == [
        ("transfer", "a"),
        ("transfer", "b"),
        ("delete", "d"),
    ]


@pytest.mark.parametrize(
    ("direction", "source_seconds", "target_seconds", "options", "transfer"),
    [
        (Direction.UPLOAD, 100, 50, {}, True),  # local file newer than the object
        (Direction.UPLOAD, 50, 100, {}, False),  # object newer: up to date
        (Direction.UPLOAD, 100.0, 99.5, {}, False),  # within the 1 s tolerance
        (Direction.UPLOAD, 100, 50, {"size_only": True}, False),
        (Direction.DOWNLOAD, 100, 50, {}, False),  # same size, local copy older: aws skips
        (Direction.DOWNLOAD, 50, 100, {}, True),  # local copy newer than the object
        (Direction.DOWNLOAD, 100, 50, {"exact_timestamps": True}, True),
        (Direction.DOWNLOAD, 100, 100.4, {"exact_timestamps": True}, False),
        (Direction.COPY, 100, 50, {}, True),
    ],
)
def test_same_size_files_are_judged_by_time(
    direction: Direction,
    source_seconds: float,
    target_seconds: float,
    options: dict[str, bool],
    transfer: bool,
) -> None:
    strategy = SyncStrategy(direction, **options)
    source, target = stat("k", seconds=source_seconds), stat("k", seconds=target_seconds)
    assert strategy.changed(source, target) is transfer


def test_plan_is_in_s3_key_order() -> None:
    sources = [stat("b/x"), stat("a-b"), stat("a/b")]
    planned = plan_sync(sources, [], SyncStrategy(Direction.UPLOAD))
    assert [a.key for a in planned] == ["a-b", "a/b", "b/x"]
