"""The ports: what the core needs from the outside world, as Protocols.

One Protocol per module; adapters in `deltaglider.adapters` implement them.
"""

from deltaglider.ports.archive import ArchivePort, Unpacked
from deltaglider.ports.buckets import BucketInfo, BucketPort
from deltaglider.ports.cache import CachePort
from deltaglider.ports.clock import ClockPort
from deltaglider.ports.container import ContainerPort
from deltaglider.ports.diff import (
    ByteRanges,
    DiffPort,
    ExternalDiff,
    FollowingDiff,
    HashingDiff,
    RangedDiff,
)
from deltaglider.ports.hash import HashPort
from deltaglider.ports.logger import LoggerPort
from deltaglider.ports.metrics import MetricsPort
from deltaglider.ports.storage import (
    CommonPrefix,
    HashingStorage,
    IncompleteUpload,
    LinkingStorage,
    ObjectInfo,
    RangeReadingStorage,
    StoragePort,
    UploadProgress,
)

__all__ = [
    "ArchivePort",
    "BucketInfo",
    "BucketPort",
    "ByteRanges",
    "CachePort",
    "ClockPort",
    "CommonPrefix",
    "ContainerPort",
    "DiffPort",
    "ExternalDiff",
    "FollowingDiff",
    "HashPort",
    "HashingDiff",
    "HashingStorage",
    "IncompleteUpload",
    "LinkingStorage",
    "LoggerPort",
    "MetricsPort",
    "ObjectInfo",
    "RangeReadingStorage",
    "RangedDiff",
    "StoragePort",
    "Unpacked",
    "UploadProgress",
]
