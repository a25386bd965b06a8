"""DeltaGlider's own calls beside boto3's, and presigned URLs where they can work.

- `deltaglider_stats(Bucket=, Prefix=)`: logical against stored bytes, per prefix.
- `deltaglider_object_info(Bucket=, Key=)`: how an object is stored (delta or whole, its
  stored key and size, its reference and codec, its SHA256).
- `deltaglider_verify(Bucket=, Key=)`: rebuild the object and check its SHA256.

A presigned URL is signed for the store, which knows nothing of deltas: one to read an
object stored whole hands out its bytes, and is given; any other is refused, saying
why (DeltaGlider's S3 gateway, `deltaglider serve`, serves deltas to such URLs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar

from deltaglider.app.client.failures import S3Failure, from_core
from deltaglider.app.client.responses import http_time
from deltaglider.core.errors import DeltaGliderError, ObjectNotFound
from deltaglider.core.models import ObjectKey, SpaceStats, StoredAs

if TYPE_CHECKING:
    from deltaglider.app.client.dispatch import Dispatcher

T = TypeVar("T")
_READS = frozenset({"get_object", "head_object"})


class PrefixStatsTypeDef(TypedDict):
    Prefix: str
    Objects: int
    Deltas: int
    References: int
    LogicalBytes: int
    StoredBytes: int
    SavedBytes: int
    Savings: float  # the fraction of the logical bytes not stored


class StatsTypeDef(PrefixStatsTypeDef):
    Bucket: str
    Prefixes: list[PrefixStatsTypeDef]  # one row per "folder" under the prefix


class ObjectInfoTypeDef(TypedDict):
    Bucket: str
    Key: str
    Size: int
    ETag: str
    LastModified: datetime
    StoredAs: Literal["delta", "direct"]
    StoredKey: str
    StoredSize: int
    Sha256: str | None  # None: a plain object that records none
    Reference: str | None  # the reference a delta is rebuilt from
    Codec: str | None  # the codec that made the delta


class VerifyTypeDef(TypedDict):
    Bucket: str
    Key: str
    Valid: bool
    ExpectedSha256: str | None
    ActualSha256: str


class PresignedUrlError(NotImplementedError):
    """A presigned URL that could not work against the store."""


class DeltaGliderMethods:
    """Mixed into every client `create_client` makes, before botocore's own class."""

    _deltaglider: Dispatcher  # set by the factory
    exceptions: Any

    def deltaglider_stats(self, *, Bucket: str, Prefix: str = "") -> StatsTypeDef:
        rows = self._deltaglider_run(
            "DeltaGliderStats", Bucket, None, lambda s: s.stats(Bucket, Prefix)
        )
        total = _row(SpaceStats.combined(Prefix, rows))
        return StatsTypeDef(Bucket=Bucket, Prefixes=[_row(r) for r in rows], **total)

    def deltaglider_object_info(self, *, Bucket: str, Key: str) -> ObjectInfoTypeDef:
        found = self._deltaglider_run(
            "DeltaGliderObjectInfo", Bucket, Key, lambda s: s.describe(ObjectKey(Bucket, Key))
        )
        logical = found.logical
        return ObjectInfoTypeDef(
            Bucket=Bucket,
            Key=Key,
            Size=logical.size,
            ETag=logical.etag,
            LastModified=http_time(logical.last_modified),
            StoredAs="delta" if logical.stored_as is StoredAs.DELTA else "direct",
            StoredKey=logical.stored_key,
            StoredSize=logical.stored_size,
            Sha256=found.sha256,
            Reference=found.reference,
            Codec=found.codec,
        )

    def deltaglider_verify(self, *, Bucket: str, Key: str) -> VerifyTypeDef:
        checked = self._deltaglider_run(
            "DeltaGliderVerify", Bucket, Key, lambda s: s.verify(ObjectKey(Bucket, Key))
        )
        return VerifyTypeDef(
            Bucket=Bucket,
            Key=Key,
            Valid=checked.ok,
            ExpectedSha256=checked.expected_sha256,
            ActualSha256=checked.actual_sha256,
        )

    def generate_presigned_url(
        self,
        ClientMethod: str,
        Params: Mapping[str, Any] | None = None,
        ExpiresIn: int = 3600,
        HttpMethod: str | None = None,
    ) -> str:
        backend = self._deltaglider.backend
        params = dict(Params or {})
        if backend.store is None:
            raise PresignedUrlError("a local store (file://) has no URLs to presign")
        if ClientMethod not in _READS:
            raise PresignedUrlError(
                f"a presigned {ClientMethod} URL would act on the store's objects around "
                "DeltaGlider; presign it against DeltaGlider's S3 gateway (deltaglider serve)"
            )
        key = ObjectKey(str(params.get("Bucket", "")), str(params.get("Key", "")))
        found = self._deltaglider_run("HeadObject", key.bucket, key.key, lambda s: s.head(key))
        if found.stored_key != key.key:
            raise PresignedUrlError(
                f"{key} is stored as a delta: a presigned URL would hand out the delta, not "
                "the file; presign it against DeltaGlider's S3 gateway (deltaglider serve)"
            )
        return backend.store.generate_presigned_url(
            ClientMethod, Params=params, ExpiresIn=ExpiresIn, **_method(HttpMethod)
        )

    def generate_presigned_post(
        self,
        Bucket: str,
        Key: str,
        Fields: dict[str, Any] | None = None,
        Conditions: list[Any] | dict[str, Any] | None = None,
        ExpiresIn: int = 3600,
    ) -> dict[str, Any]:
        raise PresignedUrlError(
            "a presigned POST would store the upload as it is, around DeltaGlider; presign "
            "it against DeltaGlider's S3 gateway (deltaglider serve)"
        )

    def close(self) -> None:
        """Close the client's connections, and the store's."""
        store = self._deltaglider.backend.store
        if store is not None:
            store.close()
        super_close = getattr(super(), "close", None)
        if callable(super_close):
            super_close()

    def _deltaglider_run(
        self, operation: str, bucket: str, key: str | None, run: Callable[[Any], T]
    ) -> T:
        """Run a service call, raising its errors as ClientErrors, as the calls do."""
        backend = self._deltaglider.backend
        try:
            try:
                return run(backend.service)
            except ObjectNotFound:
                if key is None:
                    raise
                raise backend.missing(ObjectKey(bucket, key)) from None
            except DeltaGliderError as exc:
                raise from_core(exc, bucket, key) from None
        except S3Failure as failed:
            fields = failed.fields(bodiless=False)
            error = {"Error": fields, "ResponseMetadata": {"HTTPStatusCode": failed.status}}
            raise self.exceptions.from_code(failed.code)(error, operation) from None


def _row(stats: SpaceStats) -> PrefixStatsTypeDef:
    return PrefixStatsTypeDef(
        Prefix=stats.prefix,
        Objects=stats.objects,
        Deltas=stats.deltas,
        References=stats.references,
        LogicalBytes=stats.logical_bytes,
        StoredBytes=stats.stored_bytes,
        SavedBytes=stats.saved_bytes,
        Savings=stats.savings,
    )


def _method(http_method: str | None) -> dict[str, str]:
    return {} if http_method is None else {"HttpMethod": http_method}
