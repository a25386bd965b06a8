"""Archive recipes on a machine whose Python deflates with another library than classic
zlib. The other library is real: the zlib-ng package (zlib-ng 2.x, bundled), put in the
place of this Python's `zlib` (zlib_classic.SYSTEM), as a Python linked with zlib-ng in
zlib-compat mode (Fedora 40 and later) would have it. Each test is a fresh process as far
as deflate goes: which deflate is classic is judged again, and no stream is remembered
from the writer (deflate.PROVEN)."""

from __future__ import annotations

import functools
import gzip
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from zlib_ng import zlib_ng

from deltaglider.adapters import content_form, zlib_classic
from deltaglider.adapters.deflate import Proven
from deltaglider.adapters.gzip_container import GzipContainer
from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.core.errors import DeflateMissing
from deltaglider.core.metadata import read_delta
from deltaglider.core.models import PutResult
from tests.artifacts import sdist, wheel
from tests.unit.test_archive_deltas import key, service, upload

ZLIB_NG = zlib_classic.Deflater(
    f"zlib-ng ({zlib_ng.ZLIBNG_VERSION})",
    lambda level, mem, strategy, zdict=None: (
        zlib_ng.compressobj(level, 8, -15, mem, strategy, zdict)
        if zdict
        else zlib_ng.compressobj(level, 8, -15, mem, strategy)
    ),
)


class Machine:
    """Which deflate this process has: its Python's, and the bundled classic zlib or not."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.original = zlib_classic.SYSTEM
        self.bundled = zlib_classic._bundled_library

    def become(self, system: zlib_classic.Deflater, *, bundled: bool) -> None:
        self.monkeypatch.setattr(zlib_classic, "SYSTEM", system)
        library = self.bundled if bundled else lambda: None
        self.monkeypatch.setattr(zlib_classic, "_bundled_library", library)
        self.monkeypatch.setattr(content_form, "PROVEN", Proven(64 * 1024 * 1024))
        zlib_classic.classic.cache_clear()

    def classic(self) -> None:
        self.become(self.original, bundled=True)


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Machine]:
    zlib_classic.classic.cache_clear()
    yield Machine(monkeypatch)
    zlib_classic.classic.cache_clear()


def test_the_known_answer_is_classic_zlibs_and_not_zlib_ngs() -> None:
    library = zlib_classic._bundled_library()
    assert library is not None, "cmeel-zlib is a dependency"
    bundled = functools.partial(zlib_classic._Bundled, library)
    assert zlib_classic.known_answer(bundled) == zlib_classic.KNOWN
    assert zlib_classic.known_answer(ZLIB_NG.open) != zlib_classic.KNOWN


def test_the_bundled_zlib_deflates_as_pythons_in_pieces(tmp_path: Path) -> None:
    """Fed piece by piece as the recipe search feeds it, the bundled library gives the
    bytes Python's zlib module gives (this machine's, classic: the known answer says)."""
    library = zlib_classic._bundled_library()
    assert library is not None
    content = gzip.decompress(sdist(tmp_path / "p.tar.gz", 1).read_bytes()) * 4
    for level, mem in ((1, 8), (6, 8), (9, 9)):
        bundled = zlib_classic._Bundled(library, level, mem, 0)
        pieces = range(0, len(content), 70_000)
        ours = b"".join(bundled.compress(content[at : at + 70_000]) for at in pieces)
        ours += bundled.flush()
        python = zlib_classic.SYSTEM.open(level, mem, 0)
        assert ours == python.compress(content) + python.flush(), (level, mem)


def test_the_bundled_zlib_primed_with_a_dictionary_deflates_as_pythons(tmp_path: Path) -> None:
    """A piece of a stream deflated in pieces (deflate_pieces.py) starts primed with the
    content before it: the bundled library gives the bytes Python's zlib gives then too."""
    library = zlib_classic._bundled_library()
    assert library is not None
    content = gzip.decompress(sdist(tmp_path / "p.tar.gz", 1).read_bytes())
    zdict, piece = content[:32768], content[32768:400_000]
    for level, mem in ((6, 8), (9, 9)):
        bundled = zlib_classic._Bundled(library, level, mem, 0, zdict)
        python = zlib_classic.SYSTEM.open(level, mem, 0, zdict)
        ours = bundled.compress(piece) + bundled.flush()
        assert ours == python.compress(piece) + python.flush(), (level, mem)
        unprimed = zlib_classic.SYSTEM.open(level, mem, 0)
        assert ours != unprimed.compress(piece) + unprimed.flush()  # the dictionary counts


REDEFLATED = r"[1-9][0-9]* of [0-9]+ entries re-deflated"


def stored_series(tmp_path: Path) -> tuple[InMemoryStorage, list[Path], list[PutResult]]:
    """Three wheels uploaded on this machine as it is now."""
    paths = [wheel(tmp_path / f"w-1.{v}.whl", v) for v in range(3)]
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    return storage, paths, upload(service(storage), paths)


def read_all(storage: InMemoryStorage, paths: list[Path], out: Path) -> None:
    """Each wheel read back exactly, on this machine as it is now."""
    for path in paths:
        service(storage).get(key("r/" + path.name), out / path.name)
        assert (out / path.name).read_bytes() == path.read_bytes()


def test_a_reader_deflating_with_zlib_ng_and_no_classic_zlib_fails_clearly_before_writing(
    tmp_path: Path, machine: Machine
) -> None:
    machine.classic()
    storage, paths, results = stored_series(tmp_path)
    assert re.match(REDEFLATED, results[2].detail)
    machine.become(ZLIB_NG, bundled=False)
    out = tmp_path / "out" / "w-1.2.whl"
    out.parent.mkdir()
    with pytest.raises(DeflateMissing) as caught:
        service(storage).get(key("r/w-1.2.whl"), out)
    said = str(caught.value)
    assert "classic zlib" in said
    assert f"deflates with {ZLIB_NG.name}" in said
    assert "\n" not in said
    assert "corrupt" not in said
    assert "damaged" not in said
    assert caught.value.code == "InternalError"
    assert list(out.parent.iterdir()) == []
    # Its reference (stored as it is) still reads on that machine.
    read_all(storage, paths[:1], out.parent)


def test_a_reader_deflating_with_zlib_ng_reads_with_the_bundled_classic_zlib(
    tmp_path: Path, machine: Machine
) -> None:
    machine.classic()
    storage, paths, _ = stored_series(tmp_path)
    machine.become(ZLIB_NG, bundled=True)
    read_all(storage, paths, tmp_path / "read")


def test_a_writer_deflating_with_zlib_ng_uses_the_bundled_classic_zlib(
    tmp_path: Path, machine: Machine
) -> None:
    """Its recipes are classic zlib's, so a reader with classic zlib reads them."""
    machine.become(ZLIB_NG, bundled=True)
    storage, paths, results = stored_series(tmp_path)
    assert re.match(REDEFLATED, results[2].detail)
    machine.classic()
    read_all(storage, paths, tmp_path / "read")


def test_a_writer_without_classic_zlib_proves_no_recipe_and_its_objects_read_anywhere(
    tmp_path: Path, machine: Machine
) -> None:
    """No recipe proven with zlib-ng (which readers elsewhere could not rebuild): streams
    stay as they are, unchanged ones copied; every reader rebuilds them."""
    machine.become(ZLIB_NG, bundled=False)
    storage, paths, results = stored_series(tmp_path)
    assert results[2].detail.startswith("0 of ")
    read_all(storage, paths, tmp_path / "read")
    machine.classic()
    read_all(storage, paths, tmp_path / "read")


def test_a_gzip_recipe_on_a_reader_without_classic_zlib_fails_before_writing(
    tmp_path: Path, machine: Machine
) -> None:
    packed = sdist(tmp_path / "p-1.0.tar.gz", 0)
    container = GzipContainer()
    machine.classic()
    inner = tmp_path / "inner.tar"
    assert container.decompress(packed, inner)
    recipe = container.find_recipe(packed, inner)
    assert recipe is not None
    machine.become(ZLIB_NG, bundled=False)
    assert container.find_recipe(packed, inner) is None
    out = tmp_path / "rebuilt.tar.gz"
    with pytest.raises(DeflateMissing, match="zlib-ng"):
        container.rebuild(inner, recipe, out)
    assert not out.exists()
    machine.become(ZLIB_NG, bundled=True)
    container.rebuild(inner, recipe, out)
    assert out.read_bytes() == packed.read_bytes()


def test_the_normal_path_records_what_it_did_before(tmp_path: Path, machine: Machine) -> None:
    paths = [wheel(tmp_path / f"w-1.{v}.whl", v) for v in range(2)]
    storage = InMemoryStorage()
    storage.create_bucket("bucket")
    machine.classic()
    results = upload(service(storage), paths)
    meta = read_delta(storage.buckets["bucket"][results[1].stored_key].metadata, "x.delta")
    assert (meta.container, meta.recipe) == ("archive", "v1")
