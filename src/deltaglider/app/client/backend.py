"""What every call of one client works with: the DeltaService, the boto3 client of the
store when it is S3 (for calls passed to it as they are), the region, the multipart
uploads in progress, and the few facts looked up once (the owner listings show)."""

from __future__ import annotations

import getpass
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from deltaglider.app.client.failures import S3Failure, no_such_bucket, no_such_key
from deltaglider.app.client.uploads import Uploads
from deltaglider.core.errors import DeltaGliderError
from deltaglider.core.gc import Collector
from deltaglider.core.models import DELTA_SUFFIX, DeltaSpace, ObjectKey, is_internal_key
from deltaglider.core.service import DeltaService
from deltaglider.ports import ObjectInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass
class Backend:
    """The state one client shares across its threads (each part thread-safe)."""

    service: DeltaService
    store: S3Client | None  # None: a local store (file://)
    region: str
    endpoint: str  # the store's URL (file:///root for a local one)
    uploads: Uploads = field(default_factory=Uploads)
    _owner: dict[str, str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def missing(self, key: ObjectKey) -> S3Failure:
        """S3's answer for a key not found: NoSuchBucket when its bucket is missing too."""
        if not self.service.buckets.bucket_exists(key.bucket):
            return no_such_bucket(key.bucket)
        return no_such_key(key.key)

    def location(self, bucket: str, key: str) -> str:
        """An object's URL, as S3 names it after a multipart upload."""
        return f"{self.endpoint.rstrip('/')}/{bucket}/{quote(key)}"

    def owner(self) -> dict[str, str]:
        """The owner listings show: the store's account, or this machine's user."""
        with self._lock:
            if self._owner is None:
                if self.store is not None:
                    try:
                        found = self.store.list_buckets().get("Owner", {})
                    except (BotoCoreError, ClientError):  # not allowed: no owner to show
                        found = {}
                    self._owner = {
                        "DisplayName": found.get("DisplayName", ""),
                        "ID": found.get("ID", ""),
                    }
                else:
                    user = getpass.getuser()
                    self._owner = {"DisplayName": user, "ID": user}
            return dict(self._owner)

    def collect_emptied(self, spaces: Iterable[DeltaSpace]) -> None:
        """After deletes, the DeltaSpaces left with no delta lose their references, so
        that deleting every object leaves nothing, as with S3 (a cleanup: when it fails,
        `deltaglider gc` finds the rest). One listing page tells most spaces apart."""
        emptied = [space for space in set(spaces) if self._only_internal(space)]
        if not emptied:
            return
        service = self.service
        try:
            Collector(service.storage, service.clock, service.logger).collect_emptied(emptied)
        except DeltaGliderError as exc:
            service.logger.warning("unused references not removed yet (gc will): %s", exc)

    def _only_internal(self, space: DeltaSpace) -> bool:
        """Whether the space holds internal objects and no delta (read until a delta)."""
        internal = False
        for entry in self.service.storage.list(space.bucket, space.prefix, "/"):
            if isinstance(entry, ObjectInfo):
                if entry.key.endswith(DELTA_SUFFIX):
                    return False
                internal = internal or is_internal_key(entry.key)
        return internal
