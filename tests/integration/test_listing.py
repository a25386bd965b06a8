"""The logical view on every backend: S3's order of the logical keys, pages, and what a
listing costs in requests."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from deltaglider.app.cli.main import run
from deltaglider.core.models import LogicalObject, ObjectKey, StoredAs
from deltaglider.ports import CommonPrefix, ObjectInfo
from tests.artifacts import release_zip
from tests.conftest import Backend
from tests.fakes import put_file


def put(storage: object, bucket: str, key: str, tmp_path: Path) -> None:
    source = tmp_path / "upload.bin"
    source.write_bytes(key.encode())
    storage.upload(bucket, key, source, {})  # type: ignore[attr-defined]


def entry_name(entry: object) -> str:
    return entry.key if isinstance(entry, ObjectInfo | LogicalObject) else entry.prefix  # type: ignore[attr-defined]


def test_store_lists_after_start_after_in_byte_order(backend: Backend, tmp_path: Path) -> None:
    storage = backend.storage()
    stored = ["a-b", "a.zip", "a.zip.delta", "a/b", "a/c/d", "a0", "é", "中/x", "中中"]
    for key in stored:
        put(storage, backend.bucket, key, tmp_path)
    flat = ["a-b", "a.zip", "a.zip.delta", "a/", "a0", "é", "中/", "中中"]
    assert [entry_name(e) for e in storage.list(backend.bucket, "", "/")] == flat
    for after in ["", "a", "a.zip", "a.zip.d", "a/", "a/b", "a0", "é", "中", "中/x"]:
        deep = [entry_name(e) for e in storage.list(backend.bucket, "", start_after=after)]
        assert deep == [k for k in stored if k.encode() > after.encode()], after
        rolled = [entry_name(e) for e in storage.list(backend.bucket, "", "/", start_after=after)]
        assert rolled == [k for k in flat if k.encode() > after.encode()], after


def test_a_delta_lists_before_the_keys_its_name_starts(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service = backend.service()
    put_file(
        service, release_zip(tmp_path / "app.zip", 1), ObjectKey(backend.bucket, "rel/app.zip")
    )
    (tmp_path / "notes.txt").write_text("release notes\n")
    put_file(service, tmp_path / "notes.txt", ObjectKey(backend.bucket, "rel/app.zip-notes.txt"))
    expected = ["rel/app.zip", "rel/app.zip-notes.txt"]

    for recursive in (False, True):
        listed = list(service.list(backend.bucket, "rel/", recursive=recursive))
        assert [entry_name(e) for e in listed] == expected
        assert [e.stored_as for e in listed] == [StoredAs.DELTA, StoredAs.DIRECT]  # type: ignore[union-attr]
    first = service.list_page(backend.bucket, "rel/", max_keys=1)
    assert ([entry_name(e) for e in first.entries], first.next_start_after) == (
        ["rel/app.zip"],
        "rel/app.zip",
    )
    second = service.list_page(backend.bucket, "rel/", start_after="rel/app.zip", max_keys=1)
    assert [entry_name(e) for e in second.entries] == ["rel/app.zip-notes.txt"]
    assert second.next_start_after is None

    capsys.readouterr()
    assert run(["ls", f"s3://{backend.bucket}/rel/"]) == 0
    printed = [line.rsplit(" ", 1)[-1] for line in capsys.readouterr().out.splitlines()]
    assert printed == ["app.zip", "app.zip-notes.txt"]


def test_folders_and_objects_interleave_by_logical_key(backend: Backend, tmp_path: Path) -> None:
    service = backend.service()
    (tmp_path / "n.txt").write_text("n\n")
    for name in ["r/a.zip-x/n.txt", "r/a.zip!", "r/a.zip.asc"]:
        put_file(service, tmp_path / "n.txt", ObjectKey(backend.bucket, name))
    put_file(service, release_zip(tmp_path / "a.zip", 1), ObjectKey(backend.bucket, "r/a.zip"))
    listed = [entry_name(e) for e in service.list(backend.bucket, "r/")]
    assert listed == ["r/a.zip", "r/a.zip!", "r/a.zip-x/", "r/a.zip.asc"]
    assert all(
        isinstance(e, CommonPrefix) == e_name.endswith("/")
        for e, e_name in zip(service.list(backend.bucket, "r/"), listed, strict=True)
    )


@pytest.mark.parametrize("backend", ["moto"], indirect=True)
def test_ls_of_a_prefix_that_is_not_a_folder_makes_no_head_per_object(
    backend: Backend,
    tmp_path: Path,
    s3_requests: list[tuple[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    service = backend.service()
    with service.batch():
        for minor in range(11):
            artifact = release_zip(tmp_path / "app.zip", minor)
            put_file(service, artifact, ObjectKey(backend.bucket, f"rel/app-1.{minor}.zip"))
    capsys.readouterr()
    s3_requests.clear()

    assert run(["ls", f"s3://{backend.bucket}/rel/app-1"]) == 0

    assert len(capsys.readouterr().out.splitlines()) == 11
    calls = Counter(operation for operation, _ in s3_requests)
    assert calls == Counter({"ListObjectsV2": 1, "GetObject": 1}), calls
    assert ("GetObject", "rel/.dg-index.json") in s3_requests
