"""`deltaglider cp` (plus `put`/`get`): copy files to, from and within S3, as `aws s3 cp`."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click

from deltaglider.app.cli import streams
from deltaglider.app.cli.aws_errors import Fatal
from deltaglider.app.cli.backend import make_service
from deltaglider.app.cli.context import Job, job_options
from deltaglider.app.cli.locations import (
    S3Location,
    download_target,
    is_s3,
    parse_s3,
    relative_path,
)
from deltaglider.app.cli.options import delta_options, storage_options
from deltaglider.app.cli.output import human_size, percent, say, stored_how
from deltaglider.app.cli.plan import (
    LocalTree,
    as_directory,
    copy_tasks,
    download_tasks,
    s3_objects,
    upload_tasks,
)
from deltaglider.app.cli.publish import StoreOptions, copy, publish
from deltaglider.app.cli.transfers import Reporter, Task
from deltaglider.core.errors import DeltaGliderError
from deltaglider.core.filters import Filters
from deltaglider.core.models import ObjectKey
from deltaglider.core.service import DeltaService

USAGE = "<LocalPath> <S3Uri> or <S3Uri> <LocalPath> or <S3Uri> <S3Uri>"


@click.command()
@click.argument("source")
@click.argument("destination")
@click.option("--recursive", is_flag=True, help="Copy every file below SOURCE.")
@click.option(
    "--expected-size",
    type=int,
    metavar="BYTES",
    help="Size of a stream from `-` (accepted for aws compatibility; the stream is read whole).",
)
@job_options()
def cp(source: str, destination: str, recursive: bool, expected_size: int | None, job: Job) -> int:
    """Copy a local file or S3 object to another location locally or in S3.

    SOURCE and DESTINATION take the forms `aws s3 cp` takes: a trailing `/` on an S3
    destination means "into this prefix"; `--recursive` copies a whole tree.
    """
    if not (is_s3(source) or is_s3(destination)):
        raise Fatal(f"usage: deltaglider cp {USAGE}: Invalid argument type")
    service, reporter = job.service, job.reporter
    try:
        if recursive:
            stages = plan_tree(service, source, destination, job.filters, reporter, job.storing)
        else:
            stages = [[plan_file(service, source, destination, job.storing)]]
    except DeltaGliderError as exc:  # listing or looking up the source failed
        reporter.fatal(exc)
        return reporter.exit_code
    with service.batch():
        return reporter.run(stages)


def plan_file(service: DeltaService, source: str, destination: str, storing: StoreOptions) -> Task:
    """The single operation of a non-recursive cp."""
    if source == streams.STREAM:
        target = parse_s3(destination).joined(streams.STREAM)
        return streams.upload_task(service, target, storing)
    if destination == streams.STREAM:
        return streams.download_task(service, parse_s3(source))
    if not is_s3(source):
        path = Path(source)
        if not path.exists():
            raise Fatal(f"The user-provided path {source} does not exist.")
        target = parse_s3(destination).joined(path.name)
        return Task(
            "upload",
            f"{relative_path(path)} to {target}",
            path.stat().st_size,
            partial(publish, service, path, target.object_key(), storing),
            origin=path,
        )
    origin = parse_s3(source)
    facts = service.head(origin.object_key())  # as aws: a missing source is a fatal error
    if is_s3(destination):
        target = parse_s3(destination).joined(origin.key.rsplit("/", 1)[-1])
        return Task(
            "copy",
            f"{origin} to {target}",
            facts.size,
            partial(copy, service, origin.object_key(), target.object_key(), storing),
            origin=origin.object_key(),
        )
    path = download_target(destination, origin.key)
    return Task(
        "download",
        f"{origin} to {relative_path(path)}",
        facts.size,
        partial(service.get, origin.object_key(), path),
        origin=origin.object_key(),
    )


def plan_tree(
    service: DeltaService,
    source: str,
    destination: str,
    filters: Filters,
    reporter: Reporter,
    storing: StoreOptions,
) -> list[list[Task]]:
    """The operations of a recursive cp: every file below the source."""
    if not is_s3(source):
        tree = LocalTree(Path(source))
        if not tree.root.exists():
            raise Fatal(f"The user-provided path {source} does not exist.")
        files = tree.files(filters, reporter.warning)
        root = as_directory(parse_s3(destination))
        return upload_tasks(service, tree, files, root, storing)
    origin = as_directory(parse_s3(source))
    files = s3_objects(service, origin, filters)
    if is_s3(destination):
        target = as_directory(parse_s3(destination))
        return copy_tasks(service, origin, files, target, storing)
    return download_tasks(service, origin, files, LocalTree(Path(destination)))


@click.command()
@click.argument("file")
@click.argument("destination")
@storage_options
@delta_options
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
    path = Path(file)
    if not path.is_file():
        raise Fatal(f"The user-provided path {file} does not exist.")
    target: S3Location = parse_s3(destination).joined(path.name)
    result = publish(service, path, target.object_key(), StoreOptions(no_delta=no_delta))
    say(
        f"upload: {relative_path(path)} to {target} ({stored_how(result)}, "
        f"{human_size(result.stored_size)} stored for {human_size(result.file_size)}, "
        f"{percent(result.stored_size, result.file_size)}"
        f"{'; ' + result.detail if result.detail else ''})"
    )
    return 0


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
    origin = parse_s3(source)
    path = download_target(destination, origin.key)
    service.get(ObjectKey(origin.bucket, origin.key), path)
    say(f"download: {origin} to {relative_path(path)}")
    return 0
