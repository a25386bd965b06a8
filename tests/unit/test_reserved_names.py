"""User files whose names DeltaGlider uses for its own objects are never taken for them
(bug 8): not by listings, not by reads, not by fsck or gc."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from deltaglider.core.fsck import check, repair
from deltaglider.core.metadata import stored_kind
from deltaglider.core.models import LogicalObject, ObjectKey
from tests.artifacts import release_zip
from tests.fakes import collect, make_service, put_file

NO_GRACE = timedelta(0)


def key(name: str) -> ObjectKey:
    return ObjectKey("bucket", name)


def test_fsck_repair_never_takes_a_user_file_named_reference_bin_for_ours(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    versions = [release_zip(tmp_path / f"app-{v}.zip", v) for v in range(3)]
    for path in versions:
        put_file(service, path, key(f"rel/{path.name}"))
    mine = release_zip(tmp_path / "reference.bin", 7)  # a user's own file of that name
    put_file(service, mine, key("rel/reference.bin"))

    report = check(service, "bucket", grace=NO_GRACE)
    assert report.findings == []
    repair(service, "bucket", "", report, grace=NO_GRACE)
    collect(service)
    assert check(service, "bucket", verify=True, grace=NO_GRACE).findings == []
    reader, _, _ = make_service(storage)
    for path in [*versions, mine]:
        out = tmp_path / "out" / path.name
        reader.get(key(f"rel/{path.name}"), out)
        assert out.read_bytes() == path.read_bytes()


@pytest.mark.parametrize(
    "name",
    [".dg-index.json", "reference.bin", ".dg-gc-lock-0123456789abcdef", ".dg-probe-x", "a.delta"],
)
def test_a_small_file_with_a_reserved_name_is_stored_whole_beside_ours(
    tmp_path: Path, name: str
) -> None:
    """Not a delta candidate: stored as its own bytes under `{name}.delta`, marked direct,
    and never the reference of its prefix."""
    service, storage, _ = make_service()
    small = tmp_path / "small"
    small.write_bytes(b'{"a": 1}\n')
    result = put_file(service, small, key(f"p/{name}"))

    stored = storage.buckets["bucket"][f"p/{name}.delta"]
    assert result.stored_key == f"p/{name}.delta"
    assert stored.data == small.read_bytes()
    assert stored_kind(stored.metadata) == "direct"
    assert set(storage.buckets["bucket"]) == {"p/.dg-index.json", f"p/{name}.delta"}

    app = release_zip(tmp_path / "app.zip", 1)
    put_file(service, app, key("p/app.zip"))  # the prefix's first real artifact is its reference
    assert storage.buckets["bucket"]["p/reference.bin"].data == app.read_bytes()
    listed = {e.key: e.size for e in service.list("bucket", "p/") if isinstance(e, LogicalObject)}
    assert listed == {f"p/{name}": 9, "p/app.zip": app.stat().st_size}
    reader, _, _ = make_service(storage)
    reader.get(key(f"p/{name}"), tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == small.read_bytes()
    assert reader.head(key(f"p/{name}")).size == 9
    assert check(reader, "bucket", verify=True, grace=NO_GRACE).findings == []
    reader.delete(key(f"p/{name}"))
    assert f"p/{name}.delta" not in storage.buckets["bucket"]
