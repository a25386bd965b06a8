"""`deltaglider mb` and `rb`: make and remove buckets, as `aws s3 mb` / `rb`."""

from __future__ import annotations

import click

from deltaglider.app.cli.aws_errors import Fatal, error_line
from deltaglider.app.cli.backend import make_service
from deltaglider.app.cli.locations import parse_s3
from deltaglider.app.cli.options import storage_options
from deltaglider.app.cli.output import complain, say
from deltaglider.app.cli.plan import delete_tasks, s3_objects
from deltaglider.app.cli.transfers import OutputMode, Reporter
from deltaglider.core.errors import DeltaGliderError
from deltaglider.core.filters import Filters


def _bucket_only(path: str, command: str) -> str:
    location = parse_s3(path)
    if location.key:
        raise Fatal(f"{command} takes a bucket, not a key: s3://{location.bucket}")
    return location.bucket


@click.command()
@click.argument("path")
@storage_options
def mb(path: str, endpoint_url: str | None, region: str | None, profile: str | None) -> int:
    """Create the bucket s3://bucket (a key after it is ignored, as aws ignores it)."""
    bucket = parse_s3(path).bucket
    try:
        make_service(endpoint_url, region, profile).make_bucket(bucket)
    except DeltaGliderError as exc:
        complain(f"make_bucket failed: s3://{bucket} {error_line(exc)}")
        return 1
    say(f"make_bucket: {bucket}")
    return 0


@click.command()
@click.argument("path")
@click.option("--force", is_flag=True, help="Delete every object in the bucket first.")
@storage_options
def rb(
    path: str, force: bool, endpoint_url: str | None, region: str | None, profile: str | None
) -> int:
    """Remove the bucket s3://bucket (it must be empty, unless --force)."""
    bucket = _bucket_only(path, "rb")
    service = make_service(endpoint_url, region, profile)
    root = parse_s3(f"s3://{bucket}/")
    try:
        if force:
            reporter = Reporter(OutputMode(progress=False))
            keys = [file.key for file in s3_objects(service, root, Filters())]
            with service.batch():
                failed = reporter.run([delete_tasks(service, root, keys)])
            if failed:
                complain(f"remove_bucket failed: s3://{bucket} some objects could not be deleted")
                return 1
        service.remove_bucket(bucket)
    except DeltaGliderError as exc:
        complain(f"remove_bucket failed: s3://{bucket} {error_line(exc)}")
        return 1
    say(f"remove_bucket: {bucket}")
    return 0
