"""DeltaGlider's boto3-compatible Python client: `create_client(**boto3_kwargs)`.

Modules, one concept each: factory (the client from boto3's arguments), dispatch
(botocore's calls answered by the service), objects, listing, multipart and uploads,
buckets, passthrough (what goes to the store as is, what is refused), conditions
(conditional reads, ranges), request (a call's parameters), responses (botocore's
shapes), failures (S3's errors), extras (DeltaGlider's own calls), backend (what the
calls share), types (the client's type).
"""

from deltaglider.app.client.extras import (
    ObjectInfoTypeDef,
    PrefixStatsTypeDef,
    PresignedUrlError,
    StatsTypeDef,
    VerifyTypeDef,
)
from deltaglider.app.client.factory import create_client
from deltaglider.app.client.types import DeltaGliderClient

__all__ = [
    "DeltaGliderClient",
    "ObjectInfoTypeDef",
    "PrefixStatsTypeDef",
    "PresignedUrlError",
    "StatsTypeDef",
    "VerifyTypeDef",
    "create_client",
]
