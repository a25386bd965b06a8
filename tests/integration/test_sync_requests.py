"""An unchanged tree costs `sync` listing requests only: no uploads, no HEAD per object.

Counts every S3 API call the command makes (botocore's `before-call` event on the
clients the wiring creates) while `deltaglider sync` runs in this process against moto.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from deltaglider.app.cli.main import run
from tests.artifacts import release_zip
from tests.conftest import Backend

FILES = 1000


def make_tree(root: Path) -> int:
    """1,000 files: release zips in three DeltaSpaces (stored as deltas) and text files."""
    rng = random.Random(0)
    for index in range(FILES):
        folder = root / f"component-{index % 3}" / ("builds" if index % 2 else "notes")
        folder.mkdir(parents=True, exist_ok=True)
        if index % 2:
            release_zip(folder / f"build-{index:04d}.zip", index, files=2, file_size=1_500)
        else:
            (folder / f"notes-{index:04d}.txt").write_text(f"{index} {rng.random()}\n")
    return sum(1 for path in root.rglob("*") if path.is_file())


@pytest.mark.parametrize("backend", ["moto"], indirect=True)
def test_sync_of_an_unchanged_tree_makes_list_calls_only(
    backend: Backend,
    tmp_path: Path,
    s3_requests: list[tuple[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    tree = tmp_path / "tree"
    assert make_tree(tree) == FILES
    target = f"s3://{backend.bucket}/site/"
    assert run(["sync", str(tree), target, "--no-progress", "--only-show-errors"]) == 0
    first = Counter(operation for operation, _ in s3_requests)
    s3_requests.clear()

    assert run(["sync", str(tree), target, "--no-progress"]) == 0
    s3_calls = Counter(operation for operation, _ in s3_requests)

    assert capsys.readouterr().out == ""  # nothing to do, nothing printed
    pages = -(-(FILES + 3 * 2) // 1000)  # 1,000 files, 3 references and 3 indexes
    assert s3_calls == Counter({"ListObjectsV2": pages, "GetObject": 3}), s3_calls
    with capsys.disabled():
        print(
            f"\n[requests] first sync of {FILES} files: {dict(first)}"
            f"\n[requests] second sync (unchanged): {dict(s3_calls)}"
        )
