"""`deltaglider ls`: the logical view of a bucket, in `aws s3 ls` format."""

from __future__ import annotations

import click

from deltaglider.adapters.s3_requests import RequestOptions
from deltaglider.app.cli.aws_errors import error_line
from deltaglider.app.cli.backend import make_service
from deltaglider.app.cli.locations import parse_s3
from deltaglider.app.cli.options import request_options, storage_options
from deltaglider.app.cli.output import (
    complain,
    human_size,
    ls_object_line,
    ls_prefix_line,
    ls_time,
    say,
)
from deltaglider.core.errors import DeltaGliderError
from deltaglider.core.models import LogicalObject
from deltaglider.ports import CommonPrefix


@click.command()
@click.argument("path", required=False)
@storage_options
@request_options
@click.option("--recursive", is_flag=True, help="List every object below the prefix.")
@click.option("--human-readable", is_flag=True, help="Sizes in KiB, MiB, GiB.")
@click.option("--summarize", is_flag=True, help="End with the number and total size.")
def ls(
    path: str | None,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    request_payer: str | None,
    page_size: int | None,
    recursive: bool,
    human_readable: bool,
    summarize: bool,
) -> int:
    """List buckets, or objects under s3://bucket[/prefix] by original names and sizes.

    References and `.delta` suffixes never show: what is listed is what `cp` gives back.
    """
    requests = RequestOptions(request_payer=request_payer, page_size=page_size)
    service = make_service(endpoint_url, region, profile, requests=requests)
    if path in (None, "s3://", "s3:///"):
        for bucket in service.list_buckets():
            say(f"{ls_time(bucket.created)} {bucket.name}")
        return 0
    assert path is not None
    location = parse_s3(path)
    prefixes: list[str] = []
    objects: list[LogicalObject] = []
    try:
        for entry in service.list(location.bucket, location.key, recursive=recursive):
            if isinstance(entry, CommonPrefix):
                prefixes.append(entry.prefix.rstrip("/").rsplit("/", 1)[-1] + "/")
            else:
                objects.append(entry)
    except DeltaGliderError as exc:  # aws prints listing errors after a blank line
        complain(f"\n{error_line(exc)}")
        return 255
    for name in prefixes:
        say(ls_prefix_line(name))
    for item in objects:
        name = item.key if recursive else item.key.rsplit("/", 1)[-1]
        size = human_size(item.size) if human_readable else str(item.size)
        say(ls_object_line(item.last_modified, size, name))
    if summarize:
        total = sum(item.size for item in objects)
        say(f"\n{'Total Objects: ':>15}{len(objects)}")
        say(f"{'Total Size: ':>15}{human_size(total) if human_readable else total}")
    return 0 if prefixes or objects else 1
