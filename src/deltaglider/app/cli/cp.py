"""`deltaglider cp` (and `put`/`get`): copy one file to or from S3, as `aws s3 cp` does."""

from __future__ import annotations

from pathlib import Path

import click

from deltaglider.app.cli.context import Fatal, make_service, storage_options
from deltaglider.app.cli.locations import (
    BadLocation,
    S3Location,
    download_target,
    is_s3,
    parse_s3,
    relative_path,
)
from deltaglider.app.cli.output import complain, human_size, percent, say
from deltaglider.core.errors import DeltaGliderError, NotFoundError
from deltaglider.core.models import StoredAs
from deltaglider.core.service import DeltaService


@click.command()
@click.argument("source")
@click.argument("destination")
@storage_options
@click.option("--no-delta", is_flag=True, help="Store the file whole, never as a delta.")
@click.option("--max-ratio", type=float, help="Largest delta/file size ratio kept (0-1).")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
def cp(
    source: str,
    destination: str,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    no_delta: bool,
    max_ratio: float | None,
    quiet: bool,
) -> int:
    """Copy a local file to S3, or an S3 object to a local file."""
    service = make_service(endpoint_url, region, profile, max_ratio)
    if is_s3(source) and not is_s3(destination):
        return download(service, parse_s3(source), destination, quiet=quiet)
    if is_s3(destination) and not is_s3(source):
        return upload(service, source, parse_s3(destination), no_delta=no_delta, quiet=quiet)
    if is_s3(source):
        raise BadLocation("copies from S3 to S3 are not supported yet")
    raise BadLocation("one of SOURCE and DESTINATION must be an s3:// URI")


def upload(
    service: DeltaService,
    source: str,
    destination: S3Location,
    *,
    no_delta: bool = False,
    quiet: bool = False,
    explain: bool = False,
) -> int:
    """Upload one file; print the aws line (`explain`: and how it was stored)."""
    path = Path(source)
    if not path.exists():
        raise Fatal(f"The user-provided path {source} does not exist.")
    if path.is_dir():
        raise Fatal(f"{source} is a directory; copy a file")
    target = destination.joined(path.name)
    shown = f"{relative_path(path)} to {target}"
    try:
        result = service.put(path, target.object_key(), no_delta=no_delta)
    except DeltaGliderError as exc:
        complain(f"upload failed: {shown} {exc}")
        return 1
    line = f"upload: {shown}"
    if explain:
        kind = "delta" if result.stored_as is StoredAs.DELTA else "whole"
        line += (
            f" ({kind}, {human_size(result.stored_size)} stored for "
            f"{human_size(result.file_size)}, {percent(result.stored_size, result.file_size)}"
            f"{'; new reference' if result.created_reference else ''})"
        )
    say(line, quiet=quiet)
    return 0


def download(
    service: DeltaService, source: S3Location, destination: str, *, quiet: bool = False
) -> int:
    """Rebuild one object into a local file; print the aws line."""
    target = download_target(destination, source.key)
    shown = f"{source} to {relative_path(target)}"
    try:
        service.get(source.object_key(), target)
    except NotFoundError as exc:  # aws says "fatal error" when the source is not there
        complain(f"fatal error: {exc}")
        return 1
    except DeltaGliderError as exc:
        complain(f"download failed: {shown} {exc}")
        return 1
    say(f"download: {shown}", quiet=quiet)
    return 0


@click.command()
@click.argument("file")
@click.argument("destination")
@storage_options
@click.option("--no-delta", is_flag=True, help="Store the file whole, never as a delta.")
@click.option("--max-ratio", type=float, help="Largest delta/file size ratio kept (0-1).")
def put(
    file: str,
    destination: str,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    no_delta: bool,
    max_ratio: float | None,
) -> int:
    """Upload FILE to s3://bucket/prefix/ and say how it was stored."""
    service = make_service(endpoint_url, region, profile, max_ratio)
    return upload(service, file, parse_s3(destination), no_delta=no_delta, explain=True)


@click.command()
@click.argument("source")
@click.argument("destination", required=False, default=".")
@storage_options
def get(
    source: str,
    destination: str,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
) -> int:
    """Download s3://bucket/key (to DESTINATION, default the current directory)."""
    service = make_service(endpoint_url, region, profile)
    return download(service, parse_s3(source), destination)
