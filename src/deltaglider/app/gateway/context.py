"""What a handler works with: the service, the request, who signed it."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from deltaglider.app.gateway.auth import Signed
from deltaglider.app.gateway.errors import S3Error, no_such_bucket
from deltaglider.app.gateway.http import Request
from deltaglider.app.gateway.payload import Payload
from deltaglider.app.gateway.xml import Node
from deltaglider.core.models import ObjectKey
from deltaglider.core.service import DeltaService

ANONYMOUS = "anonymous"
HEAVY_FROM = 16 * 1024 * 1024  # bytes from which encoding or rebuilding waits its turn


@dataclass
class Context:
    """`heavy` is held while a large object is encoded or rebuilt (`heavy_for`): the
    work whose memory grows with the object (the codec's, about twice its size), so that
    a worker runs only a few at once however many clients it serves, while small objects
    never wait behind them."""

    service: DeltaService
    request: Request
    signed: Signed | None
    heavy: AbstractContextManager[Any] = field(default_factory=nullcontext)

    @property
    def owner(self) -> str:
        """The requester, shown as the owner of everything (the store has no ACLs)."""
        return self.signed.access_key if self.signed else ANONYMOUS

    def owner_xml(self) -> list[Node]:
        return [("ID", self.owner), ("DisplayName", self.owner)]

    @property
    def bucket(self) -> str:
        bucket = self.request.bucket
        assert bucket is not None  # routed here only with a bucket
        return bucket

    @property
    def key(self) -> str:
        key = self.request.key
        assert key is not None  # routed here only with a key
        return key

    @property
    def object_key(self) -> ObjectKey:
        return ObjectKey(self.bucket, self.key)

    def heavy_for(self, size: int) -> AbstractContextManager[Any]:
        return self.heavy if size > HEAVY_FROM else nullcontext()

    def payload(self) -> Payload:
        return Payload(self.request, self.signed)

    def require_bucket(self) -> None:
        """NoSuchBucket unless the request's bucket exists."""
        if not self.service.buckets.bucket_exists(self.bucket):
            raise no_such_bucket(self.bucket)

    def query_int(self, name: str, default: int, low: int, high: int) -> int:
        """An integer query parameter within [low, high] (above high: high, as S3 caps
        max-keys); InvalidArgument otherwise."""
        raw = self.request.query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if value < low:
            raise S3Error("InvalidArgument", 400, f"Provided {name} not an integer or within "
                          f"integer range", extra={"ArgumentName": name,
                                                   "ArgumentValue": raw})  # fmt: skip
        return min(value, high)
