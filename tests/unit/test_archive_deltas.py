"""Content deltas of containers through the service: in-memory store, real zstd codec and
archive container. Exact round trips, smaller deltas, clean failures on damage, and the
objects earlier versions wrote still read."""

from __future__ import annotations

import gzip
import io
import random
import re
import zlib
from pathlib import Path

import pytest

from deltaglider.adapters.archive_container import ArchiveContainer
from deltaglider.adapters.gzip_container import GzipContainer
from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.adapters.zstd_codec import ZstdCodec
from deltaglider.core.encoding import archive_header, read_archive_header
from deltaglider.core.errors import FormatError, IntegrityError
from deltaglider.core.metadata import read_delta
from deltaglider.core.models import DeltaForm, ObjectKey, PutResult, StoredAs
from deltaglider.core.service import DeltaService
from deltaglider.ports import Unpacked
from tests.artifacts import jar, sdist, source_text, wheel, zip_of_streams
from tests.fakes import make_service, put_file
from tests.unit.test_archive_container import deflate, late_flush_deflate, odd_deflate


def service(storage: InMemoryStorage | None = None, *, archive: bool = True) -> DeltaService:
    made, _, _ = make_service(
        storage,
        diff=ZstdCodec(),
        archive=ArchiveContainer() if archive else None,
        containers={"gzip": GzipContainer()},
    )
    return made


def key(name: str) -> ObjectKey:
    return ObjectKey("bucket", name)


def upload(svc: DeltaService, paths: list[Path], prefix: str = "r/") -> list[PutResult]:
    return [put_file(svc, path, key(prefix + path.name)) for path in paths]


def check_reads(svc: DeltaService, paths: list[Path], out: Path, prefix: str = "r/") -> None:
    for path in paths:
        svc.get(key(prefix + path.name), out / path.name)
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name


def test_wheel_series_stores_content_deltas_far_smaller_than_raw(tmp_path: Path) -> None:
    paths = [wheel(tmp_path / f"pkg-1.{v}-py3-none-any.whl", v, modules=60) for v in range(5)]
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    content = upload(service(storage), paths, "content/")
    raw = upload(service(storage, archive=False), paths, "raw/")
    check_reads(service(storage), paths, tmp_path / "c", "content/")
    check_reads(service(storage), paths, tmp_path / "r", "raw/")
    for result in content[1:]:
        meta = read_delta(storage.buckets["bucket"][result.stored_key].metadata, "x.delta")
        assert meta.container == "archive"
        assert meta.recipe == "v1"
    content_deltas = sum(r.stored_size for r in content[1:])
    raw_deltas = sum(r.stored_size for r in raw[1:])
    assert content_deltas * 5 < raw_deltas


def test_a_damaged_content_delta_fails_cleanly(tmp_path: Path) -> None:
    paths = [jar(tmp_path / f"app-1.{v}.jar", v) for v in range(2)]
    svc = service()
    results = upload(svc, paths)
    stored = svc.storage.buckets["bucket"][results[1].stored_key]  # type: ignore[attr-defined]
    middle = len(stored.data) // 2
    stored.data = (
        stored.data[:middle] + bytes([stored.data[middle] ^ 0xFF]) + stored.data[middle + 1 :]
    )
    dest = tmp_path / "out.jar"
    with pytest.raises(IntegrityError, match="damaged"):
        service(svc.storage).get(key("r/app-1.1.jar"), dest)  # type: ignore[arg-type]
    assert not dest.exists()


def test_a_form_that_decodes_but_is_malformed_fails_cleanly(tmp_path: Path) -> None:
    """A delta that decodes (the codec's checksum holds) into a malformed content form:
    written by a faulty writer, say. It reads as damaged, never as other bytes."""
    paths = [wheel(tmp_path / f"w-{v}.whl", v) for v in range(2)]
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    results = upload(service(storage), paths)
    stored = storage.buckets["bucket"][results[1].stored_key]
    source = io.BytesIO(stored.data)
    needs, base_sha256 = read_archive_header(source)
    (tmp_path / "coded").write_bytes(source.read())
    ArchiveContainer().base(paths[0], needs, tmp_path / "base")
    ZstdCodec().decode(tmp_path / "base", tmp_path / "coded", tmp_path / "form")
    form = (tmp_path / "form").read_bytes()
    (tmp_path / "form").write_bytes(form[:5] + b"Cz\x01c\x7f\x7f" + form[5:])  # a bad copy
    ZstdCodec().encode(tmp_path / "base", tmp_path / "form", tmp_path / "coded")
    stored.data = archive_header(needs, base_sha256) + (tmp_path / "coded").read_bytes()
    with pytest.raises(IntegrityError, match="damaged"):
        service(storage).get(key("r/w-1.whl"), tmp_path / "out")


@pytest.mark.parametrize("at", [2, 7, -5], ids=["magic", "needs", "codec frame"])
def test_a_damaged_archive_delta_header_fails_cleanly(tmp_path: Path, at: int) -> None:
    paths = [wheel(tmp_path / f"w-{v}.whl", v) for v in range(2)]
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    results = upload(service(storage), paths)
    stored = storage.buckets["bucket"][results[1].stored_key]
    data = bytearray(stored.data)
    data[at] ^= 0x55
    stored.data = bytes(data)
    with pytest.raises(IntegrityError, match="damaged"):
        service(storage).get(key("r/w-1.whl"), tmp_path / "out")


def test_an_unknown_content_form_version_is_refused_before_fetching(tmp_path: Path) -> None:
    paths = [wheel(tmp_path / f"w-{v}.whl", v) for v in range(2)]
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    results = upload(service(storage), paths)
    stored = storage.buckets["bucket"][results[1].stored_key]
    recipe = stored.metadata["dg-container-recipe"]
    assert recipe == "v1"
    stored.metadata["dg-container-recipe"] = "v2"
    calls = dict(storage.calls)
    with pytest.raises(FormatError, match=r"content form version 2.*upgrade"):
        service(storage).get(key("r/w-1.whl"), tmp_path / "out")
    assert storage.calls.get("download", 0) == calls.get("download", 0)


def test_gzip_deltas_written_before_still_read(tmp_path: Path) -> None:
    """A writer without the archive container (as before it) stores sdists as deltas of
    their tar (`dg-container: gzip`); this version reads them, and writes new ones as
    content forms."""
    paths = [sdist(tmp_path / f"pkg-1.{v}.tar.gz", v) for v in range(3)]
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    old = upload(service(storage, archive=False), paths, "old/")
    for result in old[1:]:  # the first is the reference's own delta, of its raw bytes
        container = storage.buckets["bucket"][result.stored_key].metadata["dg-container"]
        assert container == "gzip"
    check_reads(service(storage), paths, tmp_path / "old", "old/")
    new = upload(service(storage), paths, "new/")
    assert [storage.buckets["bucket"][r.stored_key].metadata.get("dg-container") for r in new] == [
        None,
        "archive",
        "archive",
    ]


def test_a_gzip_stream_no_recipe_rebuilds_gets_a_raw_delta(tmp_path: Path) -> None:
    paths = []
    for version in range(2):
        path = tmp_path / f"pkg-{version}.tgz"
        body = source_text(5, 200_000) + bytes([version])
        header = gzip.compress(b"", mtime=0)[:10]
        trailer = zlib.crc32(body).to_bytes(4, "little") + len(body).to_bytes(4, "little")
        path.write_bytes(header + odd_deflate(body) + trailer)
        assert gzip.decompress(path.read_bytes()) == body
        paths.append(path)
    svc = service()
    results = upload(svc, paths)
    assert all(
        "dg-container" not in svc.storage.buckets["bucket"][r.stored_key].metadata  # type: ignore[attr-defined]
        for r in results
    )
    check_reads(service(svc.storage), paths, tmp_path / "out")  # type: ignore[arg-type]


def test_a_zip_whose_entries_no_recipe_rebuilds_still_copies_unchanged_ones(
    tmp_path: Path,
) -> None:
    """Entries no recipe rebuilds cost their bytes; unchanged ones still cost nothing."""
    bodies = [source_text(seed, 30_000) for seed in range(10)]
    paths = []
    for version in range(2):
        changed = [body + (b"v1" if version and i == 0 else b"") for i, body in enumerate(bodies)]
        entries = [(f"f{i}", 8, odd_deflate(body), body) for i, body in enumerate(changed)]
        paths.append(zip_of_streams(tmp_path / f"v{version}.zip", entries))
    svc = service()
    results = upload(svc, paths)
    assert results[1].stored_size < paths[1].stat().st_size / 5
    check_reads(service(svc.storage), paths, tmp_path / "out")  # type: ignore[arg-type]


def test_a_recipe_that_fails_late_is_caught_and_the_stream_kept(tmp_path: Path) -> None:
    """The writer's rebuild of the whole file catches a recipe that held on the start of
    its stream only; the form is made again, that stream kept, and the file exact."""
    paths = []
    for version in range(2):
        good, late = (
            source_text(7, 40_000) + bytes([version]),
            source_text(9, 600_000) + bytes([version]),
        )
        blob = random.Random(3).randbytes(1_000_000)  # the same in both: copied
        entries = [
            ("good", 8, deflate(good, 6), good),
            ("late", 8, late_flush_deflate(late), late),
            ("blob", 0, blob, blob),
        ]
        paths.append(zip_of_streams(tmp_path / f"v{version}.zip", entries))
    svc = service()
    results = upload(svc, paths)
    meta = svc.storage.buckets["bucket"][results[1].stored_key].metadata  # type: ignore[attr-defined]
    assert meta["dg-container"] == "archive"
    check_reads(service(svc.storage), paths, tmp_path / "out")  # type: ignore[arg-type]


def test_a_gzip_whose_quick_recipe_fails_late_falls_back_to_raw_bytes(tmp_path: Path) -> None:
    """As with npm tarballs: the stream's start is what zlib makes, the rest is not. Once
    the writer's rebuild shows it, nothing in the file opens, and it is stored by its
    raw bytes (as a delta or a reference), exact."""
    paths = []
    for version in range(3):
        body = source_text(11, 900_000) + bytes([version])
        header = gzip.compress(b"", mtime=0)[:10]
        trailer = zlib.crc32(body).to_bytes(4, "little") + len(body).to_bytes(4, "little")
        paths.append(tmp_path / f"pkg-{version}.tgz")
        paths[-1].write_bytes(header + late_flush_deflate(body) + trailer)
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    results = upload(service(storage), paths)
    for result in results:
        assert "dg-container" not in storage.buckets["bucket"][result.stored_key].metadata
    check_reads(service(storage), paths, tmp_path / "out")


def test_put_results_and_stats_say_how_each_object_is_stored(tmp_path: Path) -> None:
    paths = [wheel(tmp_path / f"w-{v}.whl", v) for v in range(3)]
    svc = service()
    results = upload(svc, paths)
    blob = tmp_path / "notes.zip"
    blob.write_bytes(source_text(3, 2_000))  # not a zip inside, stored whole as asked
    whole = put_file(svc, blob, key("r/notes.zip"), no_delta=True)
    first, *deltas = results
    assert (first.created_reference, first.form, first.detail) == (True, DeltaForm.RAW, "")
    assert first.reference_size == paths[0].stat().st_size
    assert first.stored_size == first.reference_size  # its own delta is empty
    for result in deltas:
        assert (result.form, result.reference_size) == (DeltaForm.CONTENT, 0)
        assert re.fullmatch(r"\d+ of \d+ entries re-deflated, \d+ copied", result.detail)
    assert whole.stored_as is StoredAs.DIRECT
    [row] = svc.stats("bucket", "r/")
    assert (row.objects, row.deltas, row.content_deltas, row.references) == (4, 3, 2, 1)
    assert row.reference_bytes == paths[0].stat().st_size


def test_containers_are_found_by_content_whatever_their_name(tmp_path: Path) -> None:
    """A zip named `.bin` and a gzip named `.img` are looked into as well."""
    zips = [wheel(tmp_path / f"firmware-{v}.bin", v) for v in range(2)]
    gzips = [sdist(tmp_path / f"disk-{v}.img", v) for v in range(2)]
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    for paths, prefix in ((zips, "z/"), (gzips, "g/")):
        results = upload(service(storage), paths, prefix)
        assert results[1].form is DeltaForm.CONTENT
        check_reads(service(storage), paths, tmp_path / prefix, prefix)


class CountingArchive(ArchiveContainer):
    """The real archive container, counting the content forms it is asked to make."""

    def __init__(self) -> None:
        super().__init__()
        self.unpacks = 0

    def unpack(self, source: Path, reference: Path, out: Path, base: Path) -> Unpacked | None:
        self.unpacks += 1
        return super().unpack(source, reference, out, base)


def test_a_file_where_nothing_opens_is_looked_into_once_whatever_the_candidates(
    tmp_path: Path,
) -> None:
    """An npm-like tarball (a gzip stream no zlib recipe rebuilds) among unrelated
    references: each candidate reference gets a raw delta, its content form is not made
    again for each of them."""
    paths = []
    for seed in range(4):
        path = tmp_path / f"pkg-{seed}.tgz"
        body = source_text(100 + seed, 200_000)
        header = gzip.compress(b"", mtime=0)[:10]
        trailer = zlib.crc32(body).to_bytes(4, "little") + len(body).to_bytes(4, "little")
        path.write_bytes(header + odd_deflate(body) + trailer)
        paths.append(path)
    archive = CountingArchive()
    svc, _, _ = make_service(
        None, diff=ZstdCodec(), archive=archive, containers={"gzip": GzipContainer()}
    )
    results = upload(svc, paths[:3])
    assert [r.created_reference for r in results] == [True, True, True]
    archive.unpacks = 0
    [last] = upload(svc, paths[3:])
    assert archive.unpacks == 1
    check_reads(svc, paths, tmp_path / "out")
    assert last.form != DeltaForm.CONTENT
