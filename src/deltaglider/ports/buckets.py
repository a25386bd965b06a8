"""BucketPort: creating, listing and removing buckets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class BucketInfo:
    name: str
    created: datetime


class BucketPort(Protocol):
    """Buckets of the store: the `mb`, `rb` and `ls` (no arguments) side of it."""

    def list_buckets(self) -> Iterator[BucketInfo]:
        """Every bucket these credentials can see, by name."""
        ...

    def create_bucket(self, bucket: str) -> None:
        """Create an empty bucket. Whether creating one that exists is an error is the
        store's call (S3 in us-east-1 and Ceph say no: elsewhere BucketExists); a name
        the store refuses is InvalidBucketName."""
        ...

    def delete_bucket(self, bucket: str) -> None:
        """Remove an empty bucket; BucketNotEmpty if anything is left in it."""
        ...

    def bucket_exists(self, bucket: str) -> bool:
        """Whether the bucket exists (and is reachable with these credentials)."""
        ...
