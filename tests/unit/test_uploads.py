"""What an upload reads and where it writes: the bytes stored are the bytes hashed
(bug 6), and every write stays inside the prefix written to (bug 5)."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.app.cli.publish import publish
from deltaglider.core.errors import AccessDenied, LocalFileError
from deltaglider.core.models import ObjectKey
from tests.artifacts import release_zip
from tests.fakes import make_service, put_file


def key(name: str) -> ObjectKey:
    return ObjectKey("bucket", name)


@pytest.mark.parametrize("name", ["image.bin", "notes.txt"], ids=["delta", "direct"])
def test_a_file_rewritten_during_uploads_is_never_stored_with_another_sha256(
    tmp_path: Path, name: str
) -> None:
    """A writer rewrites the file in place, block by block, while it is uploaded again
    and again: each upload either fails with a clear error or stores bytes that match
    the SHA256 it records."""
    service, _, _ = make_service(max_ratio=1.0)
    path = tmp_path / name
    rng = random.Random(6)
    versions = [rng.randbytes(2 * 1024 * 1024) for _ in range(2)]
    path.write_bytes(versions[0])
    stop = threading.Event()

    def rewrite() -> None:
        with path.open("r+b") as stream:
            turn = 0
            while not stop.is_set():
                turn += 1
                for offset in range(0, len(versions[0]), 256 * 1024):
                    chunk = versions[turn % 2][offset : offset + 256 * 1024]
                    os.pwrite(stream.fileno(), chunk, offset)

    writer = threading.Thread(target=rewrite)
    writer.start()
    stored = 0
    refusals: list[str] = []
    try:
        for _ in range(30):
            try:
                publish(service, path, key(f"p/{name}"))
            except LocalFileError as exc:
                refusals.append(str(exc))
                continue
            stored += 1
            result = service.verify(key(f"p/{name}"))
            assert result.ok, f"stored bytes disagree with their SHA256 ({stored} stored)"
    finally:
        stop.set()
        writer.join()
    assert all("changed while it was being read" in message for message in refusals)
    assert stored + len(refusals) == 30


class PrefixOnlyStorage(InMemoryStorage):
    """In-memory storage that plays a user whose policy allows writes under one prefix
    only (`s3:PutObject` on `bucket/releases/*`), as real S3 enforces it."""

    allowed = "releases/"

    def upload(
        self,
        bucket: str,
        key: str,
        source: Path,
        metadata: Mapping[str, str],
        *,
        create_only: bool = False,
        unchanged: Callable[[], None] | None = None,
    ) -> str:
        if not key.startswith(self.allowed):
            raise AccessDenied(f"Access denied (PutObject on s3://{bucket}/{key})")
        return super().upload(
            bucket, key, source, metadata, create_only=create_only, unchanged=unchanged
        )

    def delete(self, bucket: str, key: str) -> None:
        if not key.startswith(self.allowed):
            raise AccessDenied(f"Access denied (DeleteObject on s3://{bucket}/{key})")
        super().delete(bucket, key)


def test_uploads_write_only_inside_the_prefix_written_to(tmp_path: Path) -> None:
    storage = PrefixOnlyStorage()
    service, _, _ = make_service(storage)
    builds = [release_zip(tmp_path / f"app-{v}.zip", v) for v in range(2)]
    for path in builds:
        put_file(service, path, key(f"releases/{path.name}"))
    assert all(k.startswith("releases/") for k in storage.buckets["bucket"])
    reader, _, _ = make_service(storage)
    for path in builds:
        reader.get(key(f"releases/{path.name}"), tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == path.read_bytes()
