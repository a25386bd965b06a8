"""A large local file is uploaded from where it is, not copied first (app/cli/publish.py):
read once to hash it, read again by what stores it. So every store of it looks at the
file once more after its last read and before publishing: a file written to in between
is stored nowhere (a one-line error, nothing listed, no reference left behind), on each
backend and each way of storing it: as a reference (create-only; one PUT or parts), as
itself (`--no-delta`), as a delta. "Large" is lowered to 1 MiB here."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deltaglider.app.cli import publish
from deltaglider.app.cli.publish import StoreOptions
from deltaglider.core import spool
from deltaglider.core.errors import LocalFileError
from deltaglider.core.models import ObjectKey, StoredAs
from deltaglider.core.service import DeltaService
from tests.conftest import Backend

MIB = 1024 * 1024
# (how it is stored, its size): 20 MiB goes in parts on S3, 2 MiB in one PUT
WAYS = [("reference", 2 * MIB), ("reference", 20 * MIB), ("whole", 2 * MIB),
        ("whole", 20 * MIB), ("delta", 2 * MIB)]  # fmt: skip


@pytest.fixture(autouse=True)
def large_is_small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publish, "IN_PLACE_ABOVE", MIB)

    def copied(*_: Any, **__: Any) -> None:
        raise AssertionError("a large file was copied to be hashed")

    monkeypatch.setattr(spool, "spool", copied)


def versions(tmp_path: Path, size: int) -> tuple[Path, Path]:
    rng = random.Random(size)
    old = rng.randbytes(size)
    new = bytearray(old)
    new[size // 3 : size // 3 + 5000] = rng.randbytes(5000)
    (tmp_path / "app-1.0.bin").write_bytes(old)
    (tmp_path / "app-1.1.bin").write_bytes(new)
    return tmp_path / "app-1.0.bin", tmp_path / "app-1.1.bin"


def to_store(backend: Backend, tmp_path: Path, way: str, size: int) -> tuple[DeltaService, Path]:
    """A service, and the file to store: the first version, or (for a delta) the second
    with the first stored already."""
    old, new = versions(tmp_path, size)
    service = backend.service()
    if way != "delta":
        return service, old
    store(service, backend, old, way)
    return service, new


def store(service: DeltaService, backend: Backend, path: Path, way: str) -> StoredAs:
    options = StoreOptions(no_delta=way == "whole")
    dest = ObjectKey(backend.bucket, f"r/{path.name}")
    return publish.publish(service, path, dest, options).stored_as


def overwrite_start_of(path: Path) -> None:
    """Same size, other bytes: only its times tell (mtime, ctime)."""
    with path.open("r+b") as file:
        file.write(random.randbytes(4096))


@pytest.mark.parametrize(("way", "size"), WAYS)
def test_a_large_file_read_where_it_is_is_stored_exactly(
    backend: Backend, tmp_path: Path, way: str, size: int
) -> None:
    service, path = to_store(backend, tmp_path, way, size)
    expected = StoredAs.DIRECT if way == "whole" else StoredAs.DELTA
    assert store(service, backend, path, way) is expected
    out = tmp_path / "down" / path.name
    backend.service().get(ObjectKey(backend.bucket, f"r/{path.name}"), out)
    assert out.read_bytes() == path.read_bytes()


@pytest.mark.parametrize(("way", "size"), WAYS)
def test_a_large_file_written_to_before_it_is_stored_is_stored_nowhere(
    backend: Backend, tmp_path: Path, way: str, size: int
) -> None:
    """The file is changed after it was hashed: as its store begins to read it again
    (the upload of it as a reference or as itself), or as it is delta'd (the encode)."""
    service, path = to_store(backend, tmp_path, way, size)
    before = {getattr(entry, "key", "") for entry in backend.storage().list(backend.bucket, "r/")}

    def changing_first(method: Callable[..., Any]) -> Callable[..., Any]:
        def changed(*args: Any, **kwargs: Any) -> Any:
            if any(argument == path for argument in (*args, *kwargs.values())) or (way == "delta"):
                overwrite_start_of(path)
            return method(*args, **kwargs)

        return changed

    if way == "delta":
        encoder = service.encoder
        encoder.encode = changing_first(encoder.encode)  # type: ignore[method-assign]
    else:
        storage: Any = service.storage
        storage.upload = changing_first(storage.upload)
    with pytest.raises(LocalFileError, match="changed while it was being read: nothing"):
        store(service, backend, path, way)
    after = {getattr(entry, "key", "") for entry in backend.storage().list(backend.bucket, "r/")}
    assert after == before  # nothing new listed: no object, no reference
    if backend.name != "file":
        assert list(backend.storage().incomplete_uploads(backend.bucket, "r/")) == []
