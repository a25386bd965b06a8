"""Hand-written fakes of the ports for unit tests (storage lives in the package)."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from deltaglider.adapters.cache_fs import FilesystemCache
from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.adapters.metrics import NoopMetrics
from deltaglider.adapters.sha256 import Sha256Hasher
from deltaglider.core.gc import Collector, GcReport
from deltaglider.core.models import ObjectKey, PutResult
from deltaglider.core.policy import DeltaPolicy
from deltaglider.core.service import DeltaService
from deltaglider.ports import ArchivePort, ContainerPort, DiffPort


class ZlibDictCodec:
    """A real (if weak) delta codec in pure Python: zlib with the reference's tail as a
    preset dictionary. Fast and exact, so the core is tested without a subprocess."""

    codec = "zlib-dict"

    def __init__(self) -> None:
        self.encoded = 0
        self.decoded = 0

    def encode(self, source: Path, target: Path, delta: Path) -> None:
        self.encoded += 1
        packer = zlib.compressobj(9, zdict=source.read_bytes()[-32768:] or b"\0")
        delta.write_bytes(packer.compress(target.read_bytes()) + packer.flush())

    def decode(self, source: Path, delta: Path, target: Path) -> None:
        self.decoded += 1
        unpacker = zlib.decompressobj(zdict=source.read_bytes()[-32768:] or b"\0")
        target.write_bytes(unpacker.decompress(delta.read_bytes()) + unpacker.flush())


class SteppingClock:
    """A clock that moves one second per reading, from the time it was made: distinct
    times for every write, never behind the in-memory store's own clock."""

    def __init__(self) -> None:
        self.current = datetime.now(UTC)

    def now(self) -> datetime:
        self.current += timedelta(seconds=1)
        return self.current


def make_service(
    storage: InMemoryStorage | None = None,
    *,
    max_ratio: float = 0.5,
    references: str = "adaptive",
    containers: Mapping[str, ContainerPort] | None = None,
    archive: ArchivePort | None = None,
    diff: DiffPort | None = None,
    tool: str = "deltaglider/test",
) -> tuple[DeltaService, InMemoryStorage, ZlibDictCodec]:
    """A service over in-memory storage; `diff` replaces the pure-Python codec (which is
    still returned, unused) where a test needs a real one."""
    storage = storage or InMemoryStorage()
    if "bucket" not in storage.buckets:
        storage.create_bucket("bucket")
    codec = ZlibDictCodec()
    service = DeltaService(
        storage=storage,
        buckets=storage,
        diff=diff or codec,
        hasher=Sha256Hasher(),
        cache=FilesystemCache(),
        clock=SteppingClock(),
        logger=logging.getLogger("deltaglider.test"),
        metrics=NoopMetrics(),
        policy=DeltaPolicy(max_ratio=max_ratio, references=references),
        tool=tool,
        containers=containers,
        archive=archive,
    )
    return service, storage, codec


def collect(
    service: DeltaService, bucket: str = "bucket", prefix: str = "", *, grace: float = 0
) -> GcReport:
    """Garbage collection as `deltaglider gc --grace 0` runs it."""
    collector = Collector(service.storage, service.clock, service.logger)
    return collector.collect(bucket, prefix, grace=timedelta(seconds=grace))


def put_file(service: DeltaService, path: Path, key: ObjectKey, **options: Any) -> PutResult:
    """Upload a local file through the service's stream API, with its own mtime (what the
    CLI's `publish` does, without its check that the file did not change meanwhile)."""
    mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    with path.open("rb") as stream:
        return service.put(key, stream, mtime=mtime, **options)
