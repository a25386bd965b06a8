"""The logical view through DeltaService: S3's order, pages, the lazy listing index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.core.models import LogicalObject, ObjectKey
from deltaglider.core.service import DeltaService
from deltaglider.ports import CommonPrefix, ObjectInfo
from tests.artifacts import release_zip
from tests.fakes import make_service, put_file


def key(name: str) -> ObjectKey:
    return ObjectKey("bucket", name)


def names(
    entries: Iterator[LogicalObject | CommonPrefix] | list[LogicalObject | CommonPrefix],
) -> list[str]:
    return [e.key if isinstance(e, LogicalObject) else e.prefix for e in entries]


def text(path: Path, body: str = "notes\n") -> Path:
    path.write_text(body)
    return path


def test_a_delta_lists_before_the_keys_its_name_starts(tmp_path: Path) -> None:
    service, _, _ = make_service()
    put_file(service, release_zip(tmp_path / "app.zip", 1), key("rel/app.zip"))
    put_file(service, text(tmp_path / "notes.txt"), key("rel/app.zip-notes.txt"))
    expected = ["rel/app.zip", "rel/app.zip-notes.txt"]
    assert names(service.list("bucket", "rel/")) == expected
    assert names(service.list("bucket", "rel/", recursive=True)) == expected


def test_a_prefix_that_is_not_a_folder_reads_its_folders_index_not_a_head_per_delta(
    tmp_path: Path,
) -> None:
    service, storage, _ = make_service()
    with service.batch():
        for minor in range(11):
            put_file(service, release_zip(tmp_path / "a.zip", minor), key(f"rel/app-1.{minor}.zip"))
    heads, downloads = storage.calls.get("head", 0), storage.calls.get("download", 0)

    listed = list(service.list("bucket", "rel/app-1"))
    assert len(listed) == 11
    assert storage.calls.get("head", 0) == heads  # sizes from rel/.dg-index.json
    assert storage.calls.get("download", 0) == downloads + 1

    [row] = service.stats("bucket", "rel/app-1")
    assert row.objects == 11
    assert storage.calls.get("head", 0) == heads


def test_a_missing_index_costs_one_request_per_folder(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    for minor in range(3):
        put_file(service, release_zip(tmp_path / "a.zip", minor), key(f"rel/app-1.{minor}.zip"))
    del storage.buckets["bucket"]["rel/.dg-index.json"]
    downloads = storage.calls.get("download", 0)
    assert len(list(service.list("bucket", "rel/"))) == 3  # sizes by HEAD, index tried once
    assert storage.calls.get("download", 0) == downloads + 1


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> tuple[DeltaService, InMemoryStorage]:
    """~200 logical objects whose stored order differs from their logical order: deltas,
    notes and signatures beside them (`-` and `.asc` sort below `.delta`), a folder."""
    tmp_path = tmp_path_factory.mktemp("populated")
    service, storage, _ = make_service()
    notes = text(tmp_path / "notes.txt")
    with service.batch():
        for n in range(50):
            name = f"p/v-{n}.zip"
            put_file(
                service, release_zip(tmp_path / "v.zip", n, files=2, file_size=1_500), key(name)
            )
            put_file(service, notes, key(f"{name}-notes.txt"))
            put_file(service, notes, key(f"{name}.asc"))
            put_file(service, notes, key(f"p/v-{n}/readme.txt"))
    return service, storage


@pytest.mark.parametrize("recursive", [True, False], ids=["recursive", "delimited"])
def test_pages_of_seven_give_exactly_the_whole_listing(
    populated: tuple[DeltaService, InMemoryStorage], recursive: bool
) -> None:
    service, _ = populated
    whole = names(service.list("bucket", "p/", recursive=recursive))
    assert len(whole) == 200
    assert whole == sorted(whole, key=str.encode)
    assert len(set(whole)) == len(whole)

    paged: list[str] = []
    marker = ""
    while True:
        page = service.list_page(
            "bucket", "p/", recursive=recursive, start_after=marker, max_keys=7
        )
        assert len(page.entries) == 7 or not page.truncated
        paged += names(page.entries)
        if page.next_start_after is None:
            break
        assert page.next_start_after == paged[-1]
        marker = page.next_start_after
    assert paged == whole


def test_one_page_reads_a_bounded_part_of_the_store(
    populated: tuple[DeltaService, InMemoryStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, storage = populated
    whole = names(service.list("bucket", "p/", recursive=True))
    pulled = [0]
    listing = storage.list

    def counting(*args: object, **kwargs: object) -> Iterator[ObjectInfo | CommonPrefix]:
        for entry in listing(*args, **kwargs):  # type: ignore[arg-type]
            pulled[0] += 1
            yield entry

    monkeypatch.setattr(storage, "list", counting)
    for start in (0, 100, 190):
        pulled[0] = 0
        after = whole[start - 1] if start else ""
        page = service.list_page("bucket", "p/", recursive=True, start_after=after, max_keys=7)
        assert names(page.entries) == whole[start : start + 7]
        assert pulled[0] <= 20, pulled[0]  # of ~200 stored objects


def test_a_full_recursive_listing_answers_is_it_stored_within_a_batch(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    notes = text(tmp_path / "notes.txt")
    put_file(service, notes, key("p/a.txt"))
    with service.batch():
        assert names(service.list("bucket", "p/", recursive=True)) == ["p/a.txt"]
        heads = storage.calls["head"]
        put_file(service, notes, key("p/b.txt"))  # is p/b.txt.delta stored? The listing says no.
        assert storage.calls["head"] == heads


def test_a_write_while_a_listing_is_read_does_not_make_it_stale(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    notes = text(tmp_path / "notes.txt")
    for name in ("p/a.txt", "p/c.txt"):
        put_file(service, notes, key(name))
    with service.batch():
        listing = service.list("bucket", "p/", recursive=True)
        assert names([next(listing)]) == ["p/a.txt"]
        put_file(service, release_zip(tmp_path / "b.zip", 1), key("p/b.zip"))  # after it was listed
        assert names(listing) == ["p/c.txt"]
        put_file(service, notes, key("p/b.zip"))  # now whole: the delta must go
    assert "p/b.zip.delta" not in storage.buckets["bucket"]
