"""Choosing a reference by content: a new version is delta'd against the references whose
sketch is most like it, not the newest or the one whose name fits. Proven on a series
with an outlier, two products in one prefix, and releases uploaded out of order."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltaglider.adapters.archive_container import ArchiveContainer
from deltaglider.adapters.gzip_container import GzipContainer
from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.adapters.zstd_codec import ZstdCodec
from deltaglider.core.metadata import read_delta, read_reference
from deltaglider.core.models import ObjectKey, PutResult, StoredAs, is_reference_key
from deltaglider.core.service import DeltaService
from tests.artifacts import sdist
from tests.fakes import make_service, put_file


def service(storage: InMemoryStorage, references: str = "adaptive") -> DeltaService:
    made, _, _ = make_service(
        storage,
        diff=ZstdCodec(),
        archive=ArchiveContainer(),
        containers={"gzip": GzipContainer()},
        references=references,
    )
    return made


def stored_bytes(storage: InMemoryStorage, prefix: str) -> int:
    return sum(len(o.data) for k, o in storage.buckets["bucket"].items() if k.startswith(prefix))


def reference_of(storage: InMemoryStorage, result: PutResult) -> str:
    """The file a delta was made against (its reference's original name)."""
    delta = read_delta(storage.buckets["bucket"][result.stored_key].metadata, result.stored_key)
    return read_reference(storage.buckets["bucket"][delta.ref_key].metadata).name


def upload(
    storage: InMemoryStorage, paths: list[Path], prefix: str, policy: str
) -> list[PutResult]:
    return [
        put_file(service(storage, policy), path, ObjectKey("bucket", prefix + path.name))
        for path in paths
    ]


def test_an_outlier_never_makes_the_versions_after_it_worse(tmp_path: Path) -> None:
    """Release 3 was built by another hand (CRLF everywhere): it becomes a reference of
    its own, and releases 4-7 are delta'd against release 0's reference, as small as
    1-2; stored no more than with DG_REFERENCE_POLICY=first (where it is stored whole)."""
    paths = [sdist(tmp_path / f"pkg-1.{v}.tar.gz", v, crlf=v == 3) for v in range(8)]
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    adaptive = upload(storage, paths, "a/", "adaptive")
    first = upload(storage, paths, "f/", "first")
    assert adaptive[3].created_reference
    for result in adaptive[4:]:
        assert reference_of(storage, result) == "pkg-1.0.tar.gz"
        assert result.stored_size < 0.05 * result.file_size
    assert first[3].stored_as is StoredAs.DIRECT  # too far from the only reference
    # the outlier kept as a reference, not whole: its own delta (tens of bytes) more
    assert stored_bytes(storage, "a/") <= stored_bytes(storage, "f/") + 1024
    for path in paths:
        service(storage).get(ObjectKey("bucket", "a/" + path.name), tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == path.read_bytes()


def test_two_products_in_one_prefix_each_get_their_own_reference(tmp_path: Path) -> None:
    """Nightly builds of two products, alternating, named by date only: the newest
    reference, or the name, would pick the other product every time."""
    paths = [
        sdist(tmp_path / f"nightly-2026-01-{day:02d}.tar.gz", day // 2, product=day % 2)
        for day in range(1, 11)
    ]
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    results = upload(storage, paths, "n/", "adaptive")
    assert sum(r.created_reference for r in results) == 2
    for path, result in zip(paths[2:], results[2:], strict=True):
        day = int(path.name[-9:-7])
        own_first = paths[0] if day % 2 else paths[1]
        assert reference_of(storage, result) == own_first.name
        assert result.stored_size < 0.05 * result.file_size


def test_releases_uploaded_out_of_order_meet_their_own_line(tmp_path: Path) -> None:
    """Two release lines (1.x and 2.x, other sources) rebuilt out of order, named by build
    number only: each version is delta'd against a reference of its own line."""
    order = [
        ("2.1", 1, 7),
        ("1.0", 0, 5),
        ("2.0", 0, 7),
        ("1.2", 2, 5),
        ("1.1", 1, 5),
        ("2.2", 2, 7),
    ]
    paths = [
        sdist(tmp_path / f"build-{n}.tar.gz", v, product=p) for n, (_, v, p) in enumerate(order)
    ]
    line = {path.name: tag[0] for path, (tag, _, _) in zip(paths, order, strict=True)}
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    results = upload(storage, paths, "o/", "adaptive")
    assert sum(r.created_reference for r in results) == 2
    for path, result in zip(paths, results, strict=True):
        if not result.created_reference:
            assert line[reference_of(storage, result)] == line[path.name], path.name
    assert stored_bytes(storage, "o/") < 2.3 * paths[1].stat().st_size


@pytest.mark.parametrize("policy", ["adaptive", "first"])
def test_references_without_a_sketch_are_still_chosen_by_name(tmp_path: Path, policy: str) -> None:
    """A reference written before sketches (no `dg-sketch`) is offered by name."""
    paths = [sdist(tmp_path / f"pkg-1.{v}.tar.gz", v) for v in range(3)]
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    put_file(service(storage, policy), paths[0], ObjectKey("bucket", "s/" + paths[0].name))
    [ref_key] = [k for k in storage.buckets["bucket"] if is_reference_key(k)]
    del storage.buckets["bucket"][ref_key].metadata["dg-sketch"]
    for path in paths[1:]:
        result = put_file(service(storage, policy), path, ObjectKey("bucket", "s/" + path.name))
        assert reference_of(storage, result) == paths[0].name
        assert result.stored_size < 0.05 * result.file_size


def test_a_reference_replaced_since_it_was_listed_means_another_try(tmp_path: Path) -> None:
    """Between an uploader's listing and its fetch, garbage collection removed the
    reference and another uploader wrote a new one under the same name: the fetched
    bytes are not the listed SHA256's, so the upload lists again and goes on."""
    paths = [sdist(tmp_path / f"pkg-1.{v}.tar.gz", v) for v in range(2)]
    other = sdist(tmp_path / "other.tar.gz", 5)  # another build of the same product
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    put_file(service(storage), paths[0], ObjectKey("bucket", "s/" + paths[0].name))
    late = service(storage)
    assert late.references.candidates(ObjectKey("bucket", "s/x").delta_space, "x", None)
    replaced = InMemoryStorage()
    replaced.create_bucket("bucket")
    put_file(service(replaced), other, ObjectKey("bucket", "s/" + other.name))
    storage.buckets["bucket"]["s/reference.bin"] = replaced.buckets["bucket"]["s/reference.bin"]
    result = put_file(late, paths[1], ObjectKey("bucket", "s/" + paths[1].name))
    assert reference_of(storage, result) == other.name
    late.get(ObjectKey("bucket", "s/" + paths[1].name), tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == paths[1].read_bytes()
