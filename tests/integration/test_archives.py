"""Release series of containers built here (wheels, jars with nested jars and tarballs,
zips of zips, zip64), stored on every backend as content deltas and read back exact by
another service. Prints each series' figure beside raw deltas of the same files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from deltaglider.core.metadata import read_delta
from deltaglider.core.models import ObjectKey
from tests.artifacts import jar, wheel, zip64, zip_of_zips
from tests.conftest import Backend
from tests.fakes import put_file

SERIES: dict[str, Callable[[Path, int], Path]] = {
    "wheel": lambda path, v: wheel(path, v, modules=80),
    "jar": jar,
    "zip-of-zips": zip_of_zips,
    "zip64": zip64,
}


@pytest.mark.parametrize("series", SERIES)
def test_container_series_round_trip_as_content_deltas(
    backend: Backend,
    series: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = [SERIES[series](tmp_path / f"{series}-1.{v}.zip", v) for v in range(6)]
    content = [
        put_file(backend.service(), f, ObjectKey(backend.bucket, f"c/{f.name}")) for f in files
    ]
    monkeypatch.setenv("DG_UNWRAP_GZIP", "false")
    for path in files:
        put_file(backend.service(), path, ObjectKey(backend.bucket, f"r/{path.name}"))
    monkeypatch.delenv("DG_UNWRAP_GZIP")

    reader = backend.service()
    storage = backend.storage()
    for path, result in zip(files, content, strict=True):
        out = tmp_path / "out" / path.name
        reader.get(ObjectKey(backend.bucket, f"c/{path.name}"), out)
        assert out.read_bytes() == path.read_bytes()
        info = storage.head(backend.bucket, result.stored_key)
        assert info is not None
        expected = None if result.created_reference else "archive"
        assert read_delta(info.metadata, info.key).container == expected
    logical = sum(f.stat().st_size for f in files)
    [content_row] = reader.stats(backend.bucket, "c/")
    [raw_row] = reader.stats(backend.bucket, "r/")
    assert content_row.stored_bytes < 0.6 * raw_row.stored_bytes
    assert content_row.references == 1  # every version a small delta of the first
    deltas = sum(r.stored_size for r in content[1:])
    stored, raw_stored = content_row.stored_bytes, raw_row.stored_bytes
    with capsys.disabled():
        print(
            f"\n[archives] {backend.name:4} {series:12} {len(files)} files, {logical:>9,} B: "
            f"stored {stored:>9,} B ({100 * stored / logical:.1f}%), {deltas:>7,} B of deltas; "
            f"raw deltas: stored {raw_stored:>9,} B ({100 * raw_stored / logical:.1f}%, "
            f"{raw_row.references} references)"
        )
