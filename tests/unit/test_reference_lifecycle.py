"""References outlive deletes and go only through gc, which never orphans a delta.

Deterministic interleavings of an upload and a garbage collection, in one thread: the
store calls back between two of the uploader's requests, and the callback plays the
other process. (A hook on purpose: a real server cannot be made to pause a client
between two chosen requests; the multi-process race runs for real in
tests/integration/test_gc_races.py.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.core import gc_lock
from deltaglider.core.metadata import read_delta
from deltaglider.core.models import DeltaSpace, ObjectKey
from tests.artifacts import random_file, release_zip
from tests.fakes import collect, make_service, put_file


def key(name: str) -> ObjectKey:
    return ObjectKey("bucket", name)


class HookedStorage(InMemoryStorage):
    """In-memory storage that runs a hook once, right after the first upload whose key
    contains the hook's name (`hooks[".dg-gc-lock-"] = ...`)."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: dict[str, Callable[[], None]] = {}

    def upload(
        self,
        bucket: str,
        key: str,
        source: Path,
        metadata: Mapping[str, str],
        *,
        create_only: bool = False,
        unchanged: Callable[[], None] | None = None,
    ) -> str:
        etag = super().upload(
            bucket, key, source, metadata, create_only=create_only, unchanged=unchanged
        )
        for name in [name for name in self.hooks if name in key]:
            self.hooks.pop(name)()
        return etag


def reads_back(storage: InMemoryStorage, name: str, original: Path, tmp_path: Path) -> None:
    """A fresh process (nothing cached) rebuilds the object byte for byte."""
    reader, _, _ = make_service(storage)
    out = tmp_path / "fresh" / name
    reader.get(key(name), out)
    assert out.read_bytes() == original.read_bytes()


def test_a_put_after_a_delete_in_one_process_reads_back_everywhere(tmp_path: Path) -> None:
    """Bug 1: the deleted file's reference must not live on in this process only."""
    service, storage, _ = make_service()
    put_file(service, release_zip(tmp_path / "app-1.0.zip", 0), key("rel/app-1.0.zip"))
    service.delete(key("rel/app-1.0.zip"))
    newer = release_zip(tmp_path / "app-1.1.zip", 1)
    put_file(service, newer, key("rel/app-1.1.zip"))
    reads_back(storage, "rel/app-1.1.zip", newer, tmp_path)


def test_a_long_lived_process_survives_gc_by_another(tmp_path: Path) -> None:
    """The reference this process remembers was removed by another process's gc."""
    service, storage, _ = make_service()
    put_file(service, release_zip(tmp_path / "app-1.0.zip", 0), key("rel/app-1.0.zip"))
    service.delete(key("rel/app-1.0.zip"))
    other, _, _ = make_service(storage)
    assert [item.key for item in collect(other).removed] == ["rel/reference.bin"]

    newer = release_zip(tmp_path / "app-1.1.zip", 1)
    put_file(service, newer, key("rel/app-1.1.zip"))
    reads_back(storage, "rel/app-1.1.zip", newer, tmp_path)
    assert collect(other).removed == []


def test_gc_between_choosing_a_reference_and_storing_the_delta(tmp_path: Path) -> None:
    """Bug 2: the reference goes after the uploader fetched it, before its delta lands."""
    storage = HookedStorage()
    seeder, _, _ = make_service(storage)
    put_file(seeder, release_zip(tmp_path / "x.zip", 0), key("p/x.zip"))
    seeder.delete(key("p/x.zip"))
    uploader, _, _ = make_service(storage)
    y = release_zip(tmp_path / "y.zip", 1)
    storage.hooks["y.zip.delta"] = lambda: collect(make_service(storage)[0])  # removes it

    result = put_file(uploader, y, key("p/y.zip"))

    assert result.stored_key == "p/y.zip.delta"
    reads_back(storage, "p/y.zip", y, tmp_path)
    meta = read_delta(storage.buckets["bucket"]["p/y.zip.delta"].metadata, "p/y.zip.delta")
    assert meta.ref_key in storage.buckets["bucket"]
    assert collect(make_service(storage)[0]).removed == []  # nothing left unused


def test_an_uploader_waits_for_a_gc_at_work(tmp_path: Path) -> None:
    """The gc holds the lock when the uploader checks its reference: the uploader waits
    for it, sees the reference gone, and uploads again."""
    storage = HookedStorage()
    seeder, _, _ = make_service(storage)
    put_file(seeder, release_zip(tmp_path / "x.zip", 0), key("p/x.zip"))
    seeder.delete(key("p/x.zip"))
    space = DeltaSpace("bucket", "p/")
    removed = threading.Event()

    def slow_gc() -> None:  # takes the lock now, removes the reference 0.5 s later
        lock = gc_lock.take(storage, space, seeder.clock.now())
        assert lock is not None

        def finish() -> None:
            time.sleep(0.5)
            storage.delete("bucket", "p/reference.bin")
            gc_lock.release(storage, lock)
            removed.set()

        threading.Thread(target=finish).start()

    uploader, _, _ = make_service(storage)
    y = release_zip(tmp_path / "y.zip", 1)
    storage.hooks["y.zip.delta"] = slow_gc
    put_file(uploader, y, key("p/y.zip"))

    assert removed.is_set()  # the upload ended only after the gc had finished
    reads_back(storage, "p/y.zip", y, tmp_path)


def test_gc_keeps_a_reference_whose_delta_landed_before_its_second_look(tmp_path: Path) -> None:
    """The gc saw the reference unused; a delta against it is stored once the gc has
    written its lock: the listing under the lock shows it, and the reference stays."""
    storage = HookedStorage()
    service, _, _ = make_service(storage)
    put_file(service, release_zip(tmp_path / "x.zip", 0), key("p/x.zip"))
    service.delete(key("p/x.zip"))
    y = release_zip(tmp_path / "y.zip", 1)
    delta_stored = threading.Event()
    uploader = threading.Thread(target=partial(put_file, service), args=(y, key("p/y.zip")))

    def upload_beside_the_gc() -> None:  # the gc has just written its lock
        storage.hooks["y.zip.delta"] = delta_stored.set
        uploader.start()
        assert delta_stored.wait(10)

    storage.hooks[".dg-gc-lock-"] = upload_beside_the_gc
    report = collect(make_service(storage)[0])
    uploader.join()

    assert report.removed == []
    reads_back(storage, "p/y.zip", y, tmp_path)


def test_two_collectors_never_both_hold_a_lock() -> None:
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    service, _, _ = make_service(storage)
    space = DeltaSpace("bucket", "p/")
    first = gc_lock.take(storage, space, service.clock.now())
    assert first is not None
    assert gc_lock.take(storage, space, service.clock.now()) is None
    gc_lock.release(storage, first)
    second = gc_lock.take(storage, space, service.clock.now())
    assert second is not None
    gc_lock.release(storage, second)
    assert storage.buckets["bucket"] == {}


def test_overwrites_leave_unused_references_that_gc_removes(tmp_path: Path) -> None:
    """Bug 9: a key overwritten with unrelated content moves to a new reference; the old
    one is garbage, removed by gc (not at once: a concurrent upload may be using it)."""
    service, storage, _ = make_service()
    put_file(service, release_zip(tmp_path / "a.zip", 0), key("p/a.zip"))
    unrelated = random_file(tmp_path / "a2.zip", 20_000)
    result = put_file(service, unrelated, key("p/a.zip"))
    assert result.created_reference

    report = collect(service)
    assert [item.key for item in report.removed] == ["p/reference.bin"]
    reads_back(storage, "p/a.zip", unrelated, tmp_path)


def test_state_per_process_stays_bounded(tmp_path: Path) -> None:
    """Bug 11: a process touching thousands of DeltaSpaces remembers a bounded number."""
    service, _, _ = make_service()
    artifact = release_zip(tmp_path / "a.zip", 0, files=2, file_size=2_000)
    for number in range(300):
        put_file(service, artifact, key(f"p{number}/a.zip"))
    service.get(key("p7/a.zip"), tmp_path / "out.zip")
    assert len(service.references) <= 256
    assert service.catalog.remembered_spaces <= 256
    assert service.references.fetches_in_progress == 0  # no lock kept once nobody waits


def test_a_bucket_holding_only_what_awaits_removal_can_be_removed(tmp_path: Path) -> None:
    """Bug 9: references kept for the grace period do not make a bucket "not empty"."""
    service, storage, _ = make_service()
    put_file(service, release_zip(tmp_path / "a.zip", 0), key("p/a.zip"))
    put_file(service, random_file(tmp_path / "a2.zip", 20_000), key("p/a.zip"))
    service.delete(key("p/a.zip"))
    assert len(collect(service, grace=3600).scheduled) == 2  # both references, kept for now

    service.remove_bucket("bucket")
    assert "bucket" not in storage.buckets
