"""The one place where adapters are chosen and wired into a DeltaService."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deltaglider import __version__
from deltaglider.adapters.archive_lazy import LazyArchive
from deltaglider.adapters.cache_encrypted import EncryptedCache
from deltaglider.adapters.cache_fs import FilesystemCache
from deltaglider.adapters.cache_memory import MemoryCache
from deltaglider.adapters.clock import UtcClock
from deltaglider.adapters.gzip_container import GzipContainer
from deltaglider.adapters.localfs import LocalFilesystemStorage
from deltaglider.adapters.metrics import NoopMetrics
from deltaglider.adapters.sha256 import Sha256Hasher
from deltaglider.adapters.stdlog import std_logger
from deltaglider.adapters.xdelta3 import Xdelta3Codec
from deltaglider.adapters.zstd_codec import ZstdCodec
from deltaglider.adapters.zstd_segments import SEGMENTED_ABOVE, SegmentedZstdCodec
from deltaglider.app.settings import Settings
from deltaglider.core.budget import MemoryBudget
from deltaglider.core.errors import ConfigError
from deltaglider.core.policy import DeltaPolicy
from deltaglider.core.service import DeltaService
from deltaglider.ports import (
    BucketPort,
    CachePort,
    ContainerPort,
    DiffPort,
    LoggerPort,
    StoragePort,
)

if TYPE_CHECKING:
    import botocore.config

    from deltaglider.adapters.s3 import S3Storage


def build_service(
    settings: Settings, storage: StoragePort | None = None, buckets: BucketPort | None = None
) -> DeltaService:
    """A DeltaService over the backend the settings name (or over `storage` and
    `buckets`, a store built elsewhere), with the standard adapters."""
    if storage is None or buckets is None:
        backend = build_storage(settings)
        storage, buckets = storage or backend, buckets or backend
    logger = std_logger(settings.log_level)
    codecs: dict[str, DiffPort] = {
        "zstd": ZstdCodec(),
        "zstd-segmented": SegmentedZstdCodec(segment=settings.segment_bytes),
        "xdelta3": Xdelta3Codec(),
    }
    containers: dict[str, ContainerPort] = {"gzip": GzipContainer()}
    return DeltaService(
        storage=storage,
        buckets=buckets,
        diff=codecs[settings.codec],
        codecs=codecs,
        containers=containers,
        archive=LazyArchive(settings.redeflate_rate * 1e6),
        hasher=Sha256Hasher(),
        cache=build_cache(settings, logger),
        clock=UtcClock(),
        logger=logger,
        metrics=NoopMetrics(),
        policy=DeltaPolicy(
            max_ratio=settings.max_ratio,
            references=settings.references,
            unwrap_containers=settings.unwrap_gzip,
            segmented_above=SEGMENTED_ABOVE * settings.segment_bytes,
        ),
        tool=f"deltaglider/{__version__}",
        memory=MemoryBudget(settings.max_memory_bytes),
    )


def build_cache(settings: Settings, logger: LoggerPort) -> CachePort:
    """The reference cache: filesystem or memory, encrypted unless turned off."""
    cache: CachePort
    if settings.cache_backend == "memory":
        cache = MemoryCache(settings.cache_memory_bytes)
    else:
        if settings.cache_dir is not None:
            try:
                settings.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                raise ConfigError(f"DG_CACHE_DIR={settings.cache_dir}: {exc.strerror}") from None
        cache = FilesystemCache(settings.cache_dir)
    if settings.cache_encryption:
        cache = EncryptedCache(cache, logger, settings.cache_key)
    return cache


def build_storage(settings: Settings) -> LocalFilesystemStorage | S3Storage:
    """The filesystem backend for a `file://` endpoint, S3 through boto3 otherwise (boto3
    is imported only then: a command on a local store starts without it)."""
    if settings.file_root is not None:
        return LocalFilesystemStorage(settings.file_root)
    import boto3  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ProfileNotFound  # noqa: PLC0415

    from deltaglider.adapters.s3 import S3Storage  # noqa: PLC0415
    from deltaglider.adapters.s3_requests import ask_of_every_request  # noqa: PLC0415

    try:
        session = boto3.session.Session(profile_name=settings.profile, region_name=settings.region)
        client = session.client(
            "s3", endpoint_url=settings.endpoint_url, config=s3_config(settings.endpoint_url)
        )
    except ProfileNotFound:
        raise ConfigError(f"The config profile ({settings.profile}) could not be found") from None
    except (BotoCoreError, ValueError) as exc:
        raise ConfigError(f"cannot set up the S3 client: {exc}") from None
    ask_of_every_request(client, settings.requests)
    return S3Storage(client)


def s3_config(endpoint_url: str | None) -> botocore.config.Config:
    """How DeltaGlider's boto3 clients talk to S3 (or to the store at `endpoint_url`)."""
    import botocore.config  # noqa: PLC0415

    return botocore.config.Config(
        # Custom endpoints (MinIO, Ceph, moto) are addressed path-style: no bucket DNS.
        s3={"addressing_style": "path"} if endpoint_url else {},
        # Stores such as Ceph RGW reject the newer CRC checksums; send them only if needed.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=10,
        read_timeout=60,
    )
