"""`deltaglider presign`: a URL anyone can GET an object by, as `aws s3 presign`, for
objects the store holds whole. A delta-stored object has no such URL: the store would
serve the delta's bytes, not the file's; the S3 gateway (`deltaglider serve`) rebuilds
it for any S3 client instead."""

from __future__ import annotations

import click

from deltaglider.app.cli.aws_errors import Fatal
from deltaglider.app.cli.backend import make_service
from deltaglider.app.cli.locations import parse_s3
from deltaglider.app.cli.options import storage_options
from deltaglider.app.cli.output import say
from deltaglider.core.errors import ObjectNotFound
from deltaglider.core.models import StoredAs

WEEK = 7 * 24 * 3600  # S3's longest presigned URL


@click.command()
@click.argument("path")
@click.option(
    "--expires-in",
    type=click.IntRange(1, WEEK),
    default=3600,
    show_default=True,
    help="Seconds until the URL expires.",
)
@storage_options
def presign(
    path: str,
    expires_in: int,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
) -> int:
    """Print a presigned URL for s3://bucket/key, an object stored whole."""
    location = parse_s3(path)
    service = make_service(endpoint_url, region, profile)
    sign = getattr(service.storage, "presigned_get", None)
    if sign is None:
        raise Fatal(f"presign needs an S3 endpoint: {location} is in a local store")
    key = location.key
    try:
        stored = service.reader.find(location.object_key())
    except ObjectNotFound:
        pass  # as aws: a URL for a key that may exist by the time it is used
    else:
        if stored.stored_as is StoredAs.DELTA:
            raise Fatal(
                f"{location} is stored as a delta: a presigned URL would serve the delta, "
                "not the file. Serve it through the S3 gateway (`deltaglider serve`), "
                "which rebuilds it for any S3 client."
            )
        key = stored.info.key
    say(sign(location.bucket, key, expires_in))
    return 0
