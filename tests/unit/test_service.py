"""DeltaService over in-memory storage and a pure-Python codec."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest

from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.app.cli.publish import publish
from deltaglider.core import reference_fetch
from deltaglider.core.errors import (
    BucketNotFound,
    FormatError,
    IntegrityError,
    LocalFileError,
    ObjectNotFound,
)
from deltaglider.core.metadata import read_delta, read_reference
from deltaglider.core.models import LogicalObject, ObjectKey, StoredAs
from deltaglider.core.service import DeltaService
from deltaglider.ports import CommonPrefix
from tests.artifacts import random_file, release_zip
from tests.fakes import collect, make_service, put_file


def key(name: str) -> ObjectKey:
    return ObjectKey("bucket", name)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_keys(storage: InMemoryStorage) -> list[str]:
    """What the bucket holds, listing indexes aside (tested on their own below)."""
    return sorted(k for k in storage.buckets["bucket"] if not k.endswith(".dg-index.json"))


def test_first_upload_creates_reference_and_a_delta(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    artifact = release_zip(tmp_path / "app-1.0.zip", 1)

    result = put_file(service, artifact, key("releases/app-1.0.zip"))

    assert result.stored_as is StoredAs.DELTA
    assert result.created_reference
    assert stored_keys(storage) == ["releases/app-1.0.zip.delta", "releases/reference.bin"]
    reference = storage.buckets["bucket"]["releases/reference.bin"]
    assert reference.data == artifact.read_bytes()
    assert read_reference(reference.metadata).sha256 == sha(artifact)
    delta_key = "releases/app-1.0.zip.delta"
    delta = read_delta(storage.buckets["bucket"][delta_key].metadata, delta_key)
    assert delta.ref_key == "releases/reference.bin"
    assert delta.ref_sha256 == sha(artifact)
    assert delta.size == artifact.stat().st_size
    assert delta.codec == "zlib-dict"


def test_versions_round_trip_exactly(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    versions = [release_zip(tmp_path / f"app-1.{v}.zip", v) for v in range(4)]
    for path in versions:
        put_file(service, path, key(f"rel/{path.name}"))

    reader, _, _ = make_service(storage)  # another process: nothing cached yet
    downloads_before = storage.calls.get("download", 0)
    for path in versions:
        out = tmp_path / "out" / path.name
        result = reader.get(key(f"rel/{path.name}"), out)
        assert out.read_bytes() == path.read_bytes()
        assert result.sha256 == sha(path)
    # Three deltas, and the reference once: later rebuilds take it from the cache. The
    # first version is its reference's bytes: fetched as they are, its delta not read.
    assert storage.calls["download"] - downloads_before == 3 + 1


def test_a_large_reference_is_cached_on_its_second_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copying a large reference into the cache costs about what fetching it again does,
    and a command on one object never reads it again: so the first use (creating it,
    or reading the object that is its bytes) does not copy it, the second fetches and
    keeps it, and the uses after that read the cache. Every reference counts as large
    here (the threshold is lowered; the files stay small)."""
    monkeypatch.setattr(reference_fetch, "CACHED_AT_ONCE_UP_TO", 0)
    storage = InMemoryStorage()
    downloaded: list[str] = []
    download = storage.download

    def counted(bucket: str, key: str, *args: Any, **kwargs: Any) -> None:
        downloaded.append(key.rsplit("/", 1)[-1])
        download(bucket, key, *args, **kwargs)

    monkeypatch.setattr(storage, "download", counted)
    service, _, _ = make_service(storage)
    versions = [release_zip(tmp_path / f"app-1.{v}.zip", v) for v in range(4)]
    for path in versions:
        put_file(service, path, key(f"rel/{path.name}"))
    assert downloaded.count("reference.bin") == 1  # for the second version's delta

    reader, _, _ = make_service(storage)  # another process: nothing cached yet
    downloaded.clear()
    for path in versions:
        out = tmp_path / "out" / path.name
        reader.get(key(f"rel/{path.name}"), out)
        assert out.read_bytes() == path.read_bytes()
    # The first version is its reference's bytes (not cached); the second version's
    # delta fetches the reference again and keeps it; the others read the cache.
    assert downloaded.count("reference.bin") == 2
    assert sorted(name for name in downloaded if name.endswith(".delta")) == [
        f"{path.name}.delta" for path in versions[1:]
    ]


def test_deltas_are_much_smaller_than_the_files(tmp_path: Path) -> None:
    service, _, _ = make_service()
    put_file(service, release_zip(tmp_path / "a.zip", 1), key("a.zip"))
    second = put_file(service, release_zip(tmp_path / "b.zip", 2), key("b.zip"))
    assert second.stored_as is StoredAs.DELTA
    assert second.stored_size < second.file_size / 4


def test_poor_delta_falls_back_to_a_direct_object_with_the_first_file_policy(
    tmp_path: Path,
) -> None:
    service, storage, _ = make_service(max_ratio=0.5, references="first")
    put_file(service, random_file(tmp_path / "a.bin", 50_000, seed=1), key("x/a.bin"))
    unrelated = random_file(tmp_path / "b.bin", 50_000, seed=2)

    result = put_file(service, unrelated, key("x/b.bin"))

    assert result.stored_as is StoredAs.DIRECT
    assert result.reason == "delta too large"
    assert storage.buckets["bucket"]["x/b.bin"].data == unrelated.read_bytes()
    assert "x/b.bin.delta" not in storage.buckets["bucket"]
    out = tmp_path / "b.out"
    service.get(key("x/b.bin"), out)
    assert out.read_bytes() == unrelated.read_bytes()


def test_text_and_small_files_are_stored_direct(tmp_path: Path) -> None:
    service, storage, codec = make_service()
    notes = tmp_path / "NOTES.txt"
    notes.write_text("release notes\n" * 500)
    tiny = random_file(tmp_path / "tiny.zip", 100)

    assert put_file(service, notes, key("r/NOTES.txt")).stored_as is StoredAs.DIRECT
    assert put_file(service, tiny, key("r/tiny.zip")).stored_as is StoredAs.DIRECT
    assert codec.encoded == 0
    assert stored_keys(storage) == ["r/NOTES.txt", "r/tiny.zip"]


def test_no_delta_flag_stores_whole(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    result = put_file(service, release_zip(tmp_path / "a.zip", 1), key("a.zip"), no_delta=True)
    assert result.stored_as is StoredAs.DIRECT
    assert stored_keys(storage) == ["a.zip"]


def test_reupload_of_identical_content_leaves_no_garbage(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    artifact = release_zip(tmp_path / "a.zip", 1)
    put_file(service, artifact, key("p/a.zip"))
    before = stored_keys(storage)
    put_file(service, artifact, key("p/a.zip"))
    put_file(service, artifact, key("p/a.zip"))
    assert stored_keys(storage) == before


def test_replacing_a_delta_with_a_direct_object_removes_the_delta(tmp_path: Path) -> None:
    service, storage, _ = make_service(references="first")
    put_file(service, release_zip(tmp_path / "a.zip", 1), key("p/a.zip"))
    put_file(service, release_zip(tmp_path / "b.zip", 2), key("p/b.zip"))

    put_file(service, random_file(tmp_path / "b2.zip", 60_000, seed=9), key("p/b.zip"))

    assert stored_keys(storage) == ["p/a.zip.delta", "p/b.zip", "p/reference.bin"]


def test_replacing_a_direct_object_with_a_delta_removes_the_direct_one(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    put_file(service, release_zip(tmp_path / "a.zip", 1), key("p/a.zip"), no_delta=True)
    put_file(service, release_zip(tmp_path / "a.zip", 2), key("p/a.zip"))
    assert stored_keys(storage) == ["p/a.zip.delta", "p/reference.bin"]


def test_reserved_names_are_always_deltas(tmp_path: Path) -> None:
    service, storage, _ = make_service(max_ratio=0.0)
    first = release_zip(tmp_path / "reference.bin", 1)
    put_file(service, release_zip(tmp_path / "seed.zip", 3), key("p/seed.zip"))

    result = put_file(service, first, key("p/reference.bin"), no_delta=True)

    assert result.stored_key == "p/reference.bin.delta"
    # The DeltaSpace's own reference is untouched, and both read back exactly.
    out = tmp_path / "out.bin"
    service.get(key("p/reference.bin"), out)
    assert out.read_bytes() == first.read_bytes()
    service.get(key("p/seed.zip"), tmp_path / "seed.out")
    assert (tmp_path / "seed.out").read_bytes() == (tmp_path / "seed.zip").read_bytes()
    assert "p/reference.bin" in storage.buckets["bucket"]


def test_corrupt_delta_fails_and_leaves_no_file(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    put_file(service, release_zip(tmp_path / "a.zip", 1), key("a.zip"))
    put_file(service, release_zip(tmp_path / "b.zip", 2), key("b.zip"))
    stored = storage.buckets["bucket"]["b.zip.delta"]
    stored.data = stored.data[:-8] + bytes(8)
    out = tmp_path / "out" / "b.zip"

    with pytest.raises((IntegrityError, Exception)) as caught:
        service.get(key("b.zip"), out)

    assert not isinstance(caught.value, AssertionError)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no temporary file left behind either


def test_reference_that_changed_is_never_used(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    put_file(service, release_zip(tmp_path / "a.zip", 1), key("a.zip"))
    put_file(service, release_zip(tmp_path / "b.zip", 2), key("b.zip"))
    storage.buckets["bucket"]["reference.bin"].data += b"tampered"
    fresh, _, _ = make_service(storage)  # a new process: nothing cached

    with pytest.raises(IntegrityError, match="reference"):
        fresh.get(key("b.zip"), tmp_path / "b.out")
    assert not (tmp_path / "b.out").exists()


def test_existing_destination_survives_a_failed_download(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    put_file(service, random_file(tmp_path / "doc.txt", 5000), key("doc.txt"))
    storage.buckets["bucket"]["doc.txt"].data = b"wrong bytes"
    out = tmp_path / "doc.out"
    out.write_bytes(b"previous content")

    with pytest.raises(IntegrityError):
        service.get(key("doc.txt"), out)
    assert out.read_bytes() == b"previous content"


def test_delta_without_metadata_is_an_error_not_raw_bytes(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    put_file(service, release_zip(tmp_path / "a.zip", 1), key("a.zip"))
    storage.buckets["bucket"]["a.zip.delta"].metadata = {}

    with pytest.raises(FormatError):
        service.get(key("a.zip"), tmp_path / "a.out")
    assert not (tmp_path / "a.out").exists()


def test_plain_objects_are_served_as_they_are(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    plain = random_file(tmp_path / "plain.zip", 3000)
    storage.upload("bucket", "plain.zip", plain, {})  # written by some other S3 client

    result = service.get(key("plain.zip"), tmp_path / "out.zip")

    assert (tmp_path / "out.zip").read_bytes() == plain.read_bytes()
    assert result.sha256 is None
    assert service.verify(key("plain.zip")).expected_sha256 is None


def test_verify_reports_mismatch_without_raising(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    put_file(service, random_file(tmp_path / "doc.txt", 5000), key("doc.txt"))
    assert service.verify(key("doc.txt")).ok
    storage.buckets["bucket"]["doc.txt"].data = b"x" * 5000
    assert not service.verify(key("doc.txt")).ok


def test_delete_of_a_missing_key_succeeds_like_s3(tmp_path: Path) -> None:
    service, _, _ = make_service()
    assert service.delete(key("never-there.zip")).stored_key is None
    with pytest.raises(BucketNotFound) as raised:
        service.delete(ObjectKey("no-such-bucket", "a.zip"))
    assert (raised.value.code, raised.value.operation) == ("NoSuchBucket", "DeleteObject")


def test_delete_keeps_references_for_gc_to_remove(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    for v in (1, 2):
        put_file(service, release_zip(tmp_path / f"a{v}.zip", v), key(f"p/a{v}.zip"))
    put_file(service, release_zip(tmp_path / "other.zip", 3), key("p/sub/other.zip"))

    service.delete(key("p/a1.zip"))
    assert collect(service).removed == []  # a2 still needs the reference
    service.get(key("p/a2.zip"), tmp_path / "a2.out")
    assert (tmp_path / "a2.out").read_bytes() == (tmp_path / "a2.zip").read_bytes()

    service.delete(key("p/a2.zip"))
    assert "p/reference.bin" in storage.buckets["bucket"]  # a delete never removes it
    report = collect(service)
    assert [item.key for item in report.removed] == ["p/reference.bin"]
    assert sorted(storage.buckets["bucket"]) == [
        "p/sub/.dg-index.json",
        "p/sub/other.zip.delta",
        "p/sub/reference.bin",
    ]


def test_gc_keeps_unused_references_for_the_grace_period(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    put_file(service, release_zip(tmp_path / "a.zip", 1), key("p/a.zip"))
    service.delete(key("p/a.zip"))

    report = collect(service, grace=3600)
    assert report.removed == []
    assert [item.key for item in report.scheduled] == ["p/reference.bin"]
    assert "p/reference.bin" in storage.buckets["bucket"]


def test_missing_objects_and_buckets(tmp_path: Path) -> None:
    service, _, _ = make_service()
    with pytest.raises(ObjectNotFound) as missing:
        service.get(key("nothing.zip"), tmp_path / "x")
    assert (missing.value.code, missing.value.status) == ("NoSuchKey", 404)
    assert (missing.value.operation, missing.value.key) == ("HeadObject", "nothing.zip")
    with pytest.raises(ObjectNotFound):  # as aws: a missing bucket reads as a missing key
        service.get(ObjectKey("no-such-bucket", "a.zip"), tmp_path / "x")
    with pytest.raises(BucketNotFound) as no_bucket:
        put_file(
            service, random_file(tmp_path / "a.zip", 5000), ObjectKey("no-such-bucket", "a.zip")
        )
    assert (no_bucket.value.code, no_bucket.value.operation) == ("NoSuchBucket", "PutObject")
    with pytest.raises(LocalFileError):
        publish(service, tmp_path / "missing.zip", key("a.zip"))
    assert not (tmp_path / "x").exists()


def test_list_shows_the_logical_view(tmp_path: Path) -> None:
    service, _, _ = make_service()
    a = release_zip(tmp_path / "a.zip", 1)
    put_file(service, a, key("r/a.zip"))
    put_file(service, release_zip(tmp_path / "b.zip", 2), key("r/b.zip"))
    (tmp_path / "n.txt").write_text("notes")
    put_file(service, tmp_path / "n.txt", key("r/n.txt"))
    put_file(service, a, key("r/deeper/c.zip"))

    flat = list(service.list("bucket", "r/"))
    assert [e.prefix for e in flat if isinstance(e, CommonPrefix)] == ["r/deeper/"]
    objects = {e.key: e for e in flat if isinstance(e, LogicalObject)}
    assert sorted(objects) == ["r/a.zip", "r/b.zip", "r/n.txt"]
    assert objects["r/a.zip"].size == a.stat().st_size
    assert objects["r/a.zip"].stored_as is StoredAs.DELTA
    assert objects["r/n.txt"].size == 5

    deep = [
        e.key for e in service.list("bucket", "r/", recursive=True) if isinstance(e, LogicalObject)
    ]
    assert sorted(deep) == ["r/a.zip", "r/b.zip", "r/deeper/c.zip", "r/n.txt"]


def test_stats_counts_logical_and_stored_bytes(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    files = [release_zip(tmp_path / f"v{v}.zip", v) for v in range(3)]
    for path in files:
        put_file(service, path, key(f"r/{path.name}"))

    [row] = service.stats("bucket")

    assert row.prefix == "r/"
    assert (row.objects, row.deltas, row.references) == (3, 3, 1)
    assert row.logical_bytes == sum(p.stat().st_size for p in files)
    assert row.stored_bytes == sum(len(o.data) for o in storage.buckets["bucket"].values())
    assert 0.5 < row.savings < 1


def test_download_of_a_missing_object_creates_no_directories(tmp_path: Path) -> None:
    service, _, _ = make_service()
    with pytest.raises(ObjectNotFound):
        service.get(key("missing.zip"), tmp_path / "new" / "dir" / "missing.zip")
    assert not (tmp_path / "new").exists()


def test_listing_index_spares_a_head_per_delta(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    with service.batch():
        for v in range(5):
            put_file(service, release_zip(tmp_path / f"v{v}.zip", v), key(f"p/v{v}.zip"))
    assert "p/.dg-index.json" in storage.buckets["bucket"]
    # The create-only probe (written twice), the reference, the deltas, the index once.
    assert storage.calls["upload"] == 2 + 1 + 5 + 1

    heads_before = storage.calls["head"]
    listed = [e for e in service.list("bucket", "p/") if isinstance(e, LogicalObject)]
    assert storage.calls["head"] == heads_before  # sizes came from the index
    assert [(e.key, e.size) for e in listed] == [
        (f"p/v{v}.zip", (tmp_path / f"v{v}.zip").stat().st_size) for v in range(5)
    ]


def test_listing_index_is_only_trusted_for_the_same_object(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    for v in range(2):
        put_file(service, release_zip(tmp_path / f"v{v}.zip", v), key(f"v{v}.zip"))
    # Another writer replaces v1 without updating the index: the ETag no longer matches.
    other, _, _ = make_service(storage)
    bigger = release_zip(tmp_path / "big.zip", 1, files=9)
    index = storage.buckets["bucket"][".dg-index.json"].data
    put_file(other, bigger, key("v1.zip"))
    storage.buckets["bucket"][".dg-index.json"].data = index  # the stale index is back

    sizes = {e.key: e.size for e in service.list("bucket") if isinstance(e, LogicalObject)}
    assert sizes["v1.zip"] == bigger.stat().st_size


def test_store_that_ignores_conditional_writes_gets_references_named_by_content(
    tmp_path: Path,
) -> None:
    storage = InMemoryStorage(honours_conditional_writes=False)
    service, _, _ = make_service(storage)
    builds = [release_zip(tmp_path / f"v{v}.zip", v) for v in range(3)]
    for path in builds:
        put_file(service, path, key(f"p/{path.name}"))

    assert "p/reference.bin" not in storage.buckets["bucket"]
    named = [k for k in stored_keys(storage) if k.startswith("p/reference-")]
    assert named == [f"p/reference-{sha(builds[0])[:16]}.bin"]
    assert [e.key for e in service.list("bucket", "p/") if isinstance(e, LogicalObject)] == [
        f"p/{p.name}" for p in builds
    ]
    for path in builds:
        service.get(key(f"p/{path.name}"), tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == path.read_bytes()
    for path in builds:
        service.delete(key(f"p/{path.name}"))
    collect(service)
    assert storage.buckets["bucket"] == {}


@pytest.mark.parametrize("honoured", [True, False], ids=["exclusive-create", "ignored"])
def test_racing_threads_never_lose_a_reference(tmp_path: Path, honoured: bool) -> None:
    storage = InMemoryStorage(honours_conditional_writes=honoured)
    builds = [release_zip(tmp_path / f"v{v}.zip", v) for v in range(6)]

    def upload(service: DeltaService, path: Path, start: threading.Barrier, prefix: str) -> None:
        start.wait()
        put_file(service, path, key(prefix + path.name))

    for round_ in range(10):
        start = threading.Barrier(len(builds))
        threads = [  # one service each, as if in its own process
            threading.Thread(
                target=upload, args=(make_service(storage)[0], p, start, f"r{round_}/")
            )
            for p in builds
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        reader, _, _ = make_service(storage)
        for path in builds:
            reader.get(key(f"r{round_}/{path.name}"), tmp_path / "out")
            assert (tmp_path / "out").read_bytes() == path.read_bytes(), (round_, path.name)


def test_a_first_version_is_fetched_as_its_reference_and_still_checked(tmp_path: Path) -> None:
    """The file that became its DeltaSpace's reference is read back as the reference's
    bytes (no delta decoded), which are checked all the same: a reference whose bytes
    were replaced gives an error and no file."""
    service, storage, _ = make_service()
    first = release_zip(tmp_path / "app-1.0.zip", 0)
    put_file(service, first, key("rel/app-1.0.zip"))
    reader, _, _ = make_service(storage)  # another process: nothing cached
    reader.get(key("rel/app-1.0.zip"), tmp_path / "back.zip")
    assert (tmp_path / "back.zip").read_bytes() == first.read_bytes()

    stored = storage.buckets["bucket"]["rel/reference.bin"]
    stored.data = stored.data[:-1] + bytes([stored.data[-1] ^ 1])
    again, _, _ = make_service(storage)
    with pytest.raises(IntegrityError):
        again.get(key("rel/app-1.0.zip"), tmp_path / "bad.zip")
    assert not (tmp_path / "bad.zip").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
