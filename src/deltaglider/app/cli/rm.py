"""`deltaglider rm`: delete one logical object, as `aws s3 rm` does."""

from __future__ import annotations

import click

from deltaglider.app.cli.context import make_service, storage_options
from deltaglider.app.cli.locations import parse_s3
from deltaglider.app.cli.output import complain, say
from deltaglider.core.errors import DeltaGliderError


@click.command()
@click.argument("path")
@storage_options
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
def rm(
    path: str,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    quiet: bool,
) -> int:
    """Delete s3://bucket/key; its reference goes once no other delta needs it."""
    location = parse_s3(path)
    service = make_service(endpoint_url, region, profile)
    try:
        service.delete(location.object_key())
    except DeltaGliderError as exc:
        complain(f"delete failed: {location} {exc}")
        return 1
    say(f"delete: {location}", quiet=quiet)
    return 0
