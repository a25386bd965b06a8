"""Real release series (benchmarks/corpus/fetch.sh), uploaded version by version to each
backend: every file must come back byte-identical. Prints stored versus logical bytes.

Runs when DG_TEST_CORPUS names the fetched corpus (`make test` sets it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from deltaglider.core.metadata import read_delta
from deltaglider.core.models import ObjectKey, StoredAs
from tests.conftest import Backend
from tests.fakes import put_file

# Most each series may store, as a fraction of its bytes (docs/BENCHMARKS.md has the
# figures: 16%, 32%, 14%, 100%). Wheels and sdists delta by content (their entries and
# gzip streams rebuilt bit-exactly); npm tarballs cannot be rebuilt, and raw deltas of
# gzip streams are useless, so each of those is stored whole, as a reference of its own.
SERIES = {"pip-wheels": 0.20, "numpy-wheels": 0.35, "setuptools-sdists": 0.16, "prettier-npm": 1.0}


def corpus_dir() -> Path:
    root = os.environ.get("DG_TEST_CORPUS")
    if not root:
        pytest.skip("DG_TEST_CORPUS not set (make test fetches the corpus)")
    return Path(root)


def version_order(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


@pytest.mark.corpus
@pytest.mark.parametrize("series", SERIES)
def test_release_series_round_trips(
    backend: Backend, series: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted((corpus_dir() / series).iterdir(), key=version_order)
    files = [f for f in files if f.is_file() and not f.name.startswith(".")]
    assert len(files) >= 5, f"corpus series {series} is incomplete"
    service = backend.service()
    results = [put_file(service, f, ObjectKey(backend.bucket, f"{series}/{f.name}")) for f in files]

    reader = backend.service()
    for path in files:
        out = tmp_path / "restored" / path.name
        reader.get(ObjectKey(backend.bucket, f"{series}/{path.name}"), out)
        assert out.read_bytes() == path.read_bytes(), path.name
        out.unlink()

    [row] = reader.stats(backend.bucket, f"{series}/")
    assert row.logical_bytes == sum(f.stat().st_size for f in files)
    assert row.stored_bytes <= SERIES[series] * row.logical_bytes + 1024 * len(files)
    if series != "prettier-npm":  # deltas of the content, but for a reference's own
        storage = backend.storage()
        for result in results:
            info = storage.head(backend.bucket, result.stored_key)
            assert info is not None
            expected = None if result.created_reference else "archive"
            assert read_delta(info.metadata, info.key).container == expected, result.stored_key
    deltas = sum(r.stored_as is StoredAs.DELTA for r in results)
    with capsys.disabled():
        print(
            f"\n[corpus] {backend.name:4} {series:18} {len(files)} files, {deltas} deltas: "
            f"logical {row.logical_bytes:>11,} B, stored {row.stored_bytes:>11,} B "
            f"({100 * row.stored_bytes / row.logical_bytes:5.1f}%, "
            f"{row.logical_bytes / row.stored_bytes:4.2f}x)"
        )
