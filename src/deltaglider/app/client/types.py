"""The type of the client `create_client` returns: boto3's S3 client (as boto3-stubs
types it, when installed) with DeltaGlider's own methods."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deltaglider.app.client.extras import DeltaGliderMethods

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    class DeltaGliderClient(DeltaGliderMethods, S3Client):
        """boto3's S3 client, storing objects as deltas; plus deltaglider_stats,
        deltaglider_object_info and deltaglider_verify."""

else:
    DeltaGliderClient = DeltaGliderMethods  # every client create_client makes is one
