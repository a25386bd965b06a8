"""Faults during put and get never falsify data: transient errors are retried, a
transient HEAD failure is never taken for "absent", a body cut short is fetched again,
stripped metadata is an error, and every stored object, damaged in turn, either reads
back exact or fails leaving no file.

Faults are injected with botocore's event hooks on the real client talking to moto and
to Ceph RGW: mocks of a kind, used because no real server can be made to fail on cue.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError
from botocore.response import StreamingBody

from deltaglider.adapters.s3 import S3Storage
from deltaglider.core.errors import DeltaGliderError, FormatError, StorageError
from deltaglider.core.models import ObjectKey
from deltaglider.core.service import DeltaService
from tests.artifacts import release_zip
from tests.conftest import Backend
from tests.fakes import put_file


class Faults:
    """Fails the next `count` calls of an operation in the chosen way."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.injected: list[str] = []

    def status(self, operation: str, code: int, count: int = 1) -> None:
        remaining = [count]

        def respond(request: Any, **_: Any) -> AWSResponse | None:
            if remaining[0] <= 0:
                return None
            remaining[0] -= 1
            self.injected.append(f"{operation} {code}")
            body = b"<Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>"
            return AWSResponse(request.url, code, {}, _Raw(body))

        self.client.meta.events.register_first(f"before-send.s3.{operation}", respond)

    def reset(self, operation: str, count: int = 1) -> None:
        remaining = [count]

        def cut(request: Any, **_: Any) -> None:
            if remaining[0] > 0:
                remaining[0] -= 1
                self.injected.append(f"{operation} reset")
                raise ConnectionClosedError(endpoint_url=request.url)

        self.client.meta.events.register_first(f"before-send.s3.{operation}", cut)

    def truncate(self, operation: str, count: int = 1) -> None:
        remaining = [count]

        def shorten(parsed: dict[str, Any], **_: Any) -> None:
            if remaining[0] > 0 and "Body" in parsed:
                remaining[0] -= 1
                self.injected.append(f"{operation} truncated")
                data = parsed["Body"].read()
                half = data[: len(data) // 2]
                parsed["Body"] = StreamingBody(_Raw(half), len(half))

        self.client.meta.events.register(f"after-call.s3.{operation}", shorten)

    def strip_metadata(self) -> None:
        def strip(parsed: dict[str, Any], **_: Any) -> None:
            parsed["Metadata"] = {}

        self.client.meta.events.register("after-call.s3.HeadObject", strip)


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data, self._offset = data, 0

    def read(self, amount: int | None = None, **_: Any) -> bytes:
        end = len(self._data) if amount is None else self._offset + amount
        chunk, self._offset = self._data[self._offset : end], min(end, len(self._data))
        return chunk

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


def faulty(backend: Backend) -> tuple[DeltaService, Faults]:
    service = backend.service()
    assert isinstance(service.storage, S3Storage)
    return service, Faults(service.storage.client)


@pytest.fixture
def versions(tmp_path: Path) -> list[Path]:
    return [release_zip(tmp_path / f"v{v}.zip", v, files=8, file_size=20_000) for v in range(3)]


@pytest.mark.parametrize("backend", ["moto", "ceph"], indirect=True)
def test_transient_errors_are_retried(
    backend: Backend, tmp_path: Path, versions: list[Path]
) -> None:
    service, faults = faulty(backend)
    faults.status("HeadObject", 503, count=2)
    faults.status("PutObject", 500, count=2)
    faults.reset("GetObject", count=1)
    faults.status("ListObjectsV2", 503, count=1)
    for path in versions:
        put_file(service, path, ObjectKey(backend.bucket, f"r/{path.name}"))
    reader, reader_faults = faulty(backend)
    reader_faults.status("GetObject", 503, count=2)
    reader_faults.reset("HeadObject", count=1)
    for path in versions:
        reader.get(ObjectKey(backend.bucket, f"r/{path.name}"), tmp_path / "out" / path.name)
        assert (tmp_path / "out" / path.name).read_bytes() == path.read_bytes()
    assert len(faults.injected) == 6  # every planned fault fired (the writer GETs the index)
    assert len(reader_faults.injected) == 3


@pytest.mark.parametrize("backend", ["moto", "ceph"], indirect=True)
def test_a_failing_head_is_never_taken_for_absent(backend: Backend, versions: list[Path]) -> None:
    service, _ = faulty(backend)
    put_file(service, versions[0], ObjectKey(backend.bucket, "r/v0.zip"))
    reference = backend.storage().head(backend.bucket, "r/reference.bin")
    assert reference is not None

    broken, faults = faulty(backend)
    faults.status("HeadObject", 503, count=100)  # more than the retries
    with pytest.raises(StorageError):
        put_file(broken, versions[1], ObjectKey(backend.bucket, "r/v1.zip"))
    after = backend.storage().head(backend.bucket, "r/reference.bin")
    assert after is not None
    assert after.etag == reference.etag  # the live reference was not overwritten


@pytest.mark.parametrize("backend", ["moto", "ceph"], indirect=True)
def test_a_body_cut_short_is_fetched_again(
    backend: Backend, tmp_path: Path, versions: list[Path]
) -> None:
    writer, _ = faulty(backend)
    put_file(writer, versions[0], ObjectKey(backend.bucket, "v0.zip"))
    put_file(writer, versions[1], ObjectKey(backend.bucket, "v1.zip"))
    reader, faults = faulty(backend)
    faults.truncate("GetObject", count=2)
    reader.get(ObjectKey(backend.bucket, "v1.zip"), tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == versions[1].read_bytes()
    assert faults.injected == ["GetObject truncated"] * 2

    always, faults = faulty(backend)
    faults.truncate("GetObject", count=100)
    with pytest.raises(StorageError, match="ended early"):
        always.get(ObjectKey(backend.bucket, "v1.zip"), tmp_path / "again")
    assert not (tmp_path / "again").exists()


@pytest.mark.parametrize("backend", ["moto", "ceph"], indirect=True)
def test_stripped_metadata_never_serves_delta_bytes(
    backend: Backend, tmp_path: Path, versions: list[Path]
) -> None:
    writer, _ = faulty(backend)
    put_file(writer, versions[0], ObjectKey(backend.bucket, "v0.zip"))
    reader, faults = faulty(backend)
    faults.strip_metadata()
    with pytest.raises(FormatError):
        reader.get(ObjectKey(backend.bucket, "v0.zip"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_every_stored_object_damaged_in_turn(backend: Backend, tmp_path: Path) -> None:
    """Each stored object (reference, deltas, whole files, the listing index) gets bytes
    flipped in turn: every download then yields the exact bytes or fails, leaving no file."""
    service = backend.service()
    files = {f"r/v{v}.zip": release_zip(tmp_path / f"v{v}.zip", v) for v in range(3)}
    (tmp_path / "notes.txt").write_text("release notes\n" * 200)
    files["r/notes.txt"] = tmp_path / "notes.txt"
    for key, path in files.items():
        put_file(service, path, ObjectKey(backend.bucket, key))
    storage = backend.storage()
    stored = [e.key for e in storage.list(backend.bucket, "")]  # type: ignore[union-attr]
    assert len(stored) == 1 + 3 + 1 + 1  # reference, deltas, notes, index
    rng = random.Random(3)
    outcomes = {"exact": 0, "failed": 0}
    for victim in stored:
        info = storage.head(backend.bucket, victim)
        assert info is not None
        original = tmp_path / "original"
        storage.download(backend.bucket, victim, original)
        data = bytearray(original.read_bytes())
        if not data:  # the reference's own delta: no bytes to damage
            continue
        for _ in range(3):
            data[rng.randrange(len(data))] ^= 0xFF
        (tmp_path / "damaged").write_bytes(bytes(data))
        storage.upload(backend.bucket, victim, tmp_path / "damaged", info.metadata)

        reader = backend.service()  # nothing cached
        for key, path in files.items():
            out = tmp_path / "down" / key
            try:
                reader.get(ObjectKey(backend.bucket, key), out)
            except DeltaGliderError:
                outcomes["failed"] += 1
                assert not out.exists()
                assert [p.name for p in out.parent.glob(".*dg-tmp*")] == []
            else:
                outcomes["exact"] += 1
                assert out.read_bytes() == path.read_bytes(), (victim, key)
                out.unlink()
        storage.upload(backend.bucket, victim, original, info.metadata)  # heal
    assert outcomes["failed"] >= 5  # the reference (3), each delta and the text file
