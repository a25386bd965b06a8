"""`deltaglider sync`: make a destination tree match a source tree, as `aws s3 sync`.

Only listings are compared (size, and modification time with 1 s tolerance; for delta
objects the original size and time recorded at upload): an unchanged tree costs list
calls and no transfers.
"""

from __future__ import annotations

from pathlib import Path

import click

from deltaglider.app.cli.aws_errors import Fatal
from deltaglider.app.cli.context import Job, job_options
from deltaglider.app.cli.gc import collect_emptied
from deltaglider.app.cli.locations import S3Location, is_s3, parse_s3
from deltaglider.app.cli.plan import (
    LocalTree,
    as_directory,
    copy_tasks,
    delete_tasks,
    download_tasks,
    local_delete_tasks,
    s3_objects,
    upload_tasks,
)
from deltaglider.app.cli.publish import StoreOptions
from deltaglider.app.cli.transfers import Reporter, Task
from deltaglider.core.errors import DeltaGliderError
from deltaglider.core.filters import Filters
from deltaglider.core.models import DeltaSpace, ObjectKey
from deltaglider.core.service import DeltaService
from deltaglider.core.sync import Direction, FileStat, SyncStrategy, plan_sync


@click.command()
@click.argument("source")
@click.argument("destination")
@click.option("--delete", is_flag=True, help="Delete destination files that are not in SOURCE.")
@click.option("--size-only", is_flag=True, help="Compare sizes only, not modification times.")
@click.option(
    "--exact-timestamps",
    is_flag=True,
    help="Downloading, re-fetch same-size files unless the times match exactly.",
)
@job_options()
def sync(
    source: str,
    destination: str,
    delete: bool,
    size_only: bool,
    exact_timestamps: bool,
    job: Job,
) -> int:
    """Sync directories and S3 prefixes: copy new and changed files to DESTINATION."""
    if not (is_s3(source) or is_s3(destination)):
        raise Fatal(
            "usage: deltaglider sync <LocalPath> <S3Uri> or <S3Uri> <LocalPath> or "
            "<S3Uri> <S3Uri>: Invalid argument type"
        )
    service, reporter = job.service, job.reporter
    strategy_options = {"size_only": size_only, "exact_timestamps": exact_timestamps}
    with service.batch():  # the listings taken in planning serve the transfers too
        try:
            stages, cleanup = plan(
                service, source, destination, job.filters, reporter, delete, job.storing,
                strategy_options,
            )  # fmt: skip
        except DeltaGliderError as exc:
            reporter.fatal(exc)
            return reporter.exit_code
        code = reporter.run(stages)
    if not job.dryrun:
        collect_emptied(service, cleanup)
    return code


def plan(
    service: DeltaService,
    source: str,
    destination: str,
    filters: Filters,
    reporter: Reporter,
    delete: bool,
    storing: StoreOptions,
    strategy_options: dict[str, bool],
) -> tuple[list[list[Task]], set[DeltaSpace]]:
    """The stages of operations, and the DeltaSpaces that --delete may leave empty."""
    if not is_s3(source):
        tree = LocalTree(Path(source))
        if not tree.root.is_dir():
            raise Fatal(f"The user-provided path {source} does not exist.")
        target = as_directory(parse_s3(destination))
        sources = tree.files(filters, reporter.warning)
        targets = s3_objects(service, target, filters)
        transfers, removals = _compare(sources, targets, Direction.UPLOAD, strategy_options, delete)
        stages = upload_tasks(service, tree, transfers, target, storing)
        return _with_deletes(service, stages, target, removals)

    origin = as_directory(parse_s3(source))
    sources = s3_objects(service, origin, filters)
    if not is_s3(destination):
        tree = LocalTree(Path(destination))
        targets = tree.files(filters, reporter.warning) if tree.root.is_dir() else []
        transfers, removals = _compare(
            sources, targets, Direction.DOWNLOAD, strategy_options, delete
        )
        [downloads] = download_tasks(service, origin, transfers, tree)
        return [[*downloads, *local_delete_tasks(tree, removals)]], set()

    target = as_directory(parse_s3(destination))
    targets = s3_objects(service, target, filters)
    transfers, removals = _compare(sources, targets, Direction.COPY, strategy_options, delete)
    stages = copy_tasks(service, origin, transfers, target, storing)
    return _with_deletes(service, stages, target, removals)


def _with_deletes(
    service: DeltaService, stages: list[list[Task]], target: S3Location, removals: list[str]
) -> tuple[list[list[Task]], set[DeltaSpace]]:
    """The deletes of --delete join the last stage; their DeltaSpaces get tidied after."""
    deletes = delete_tasks(service, target, removals)
    spaces = {ObjectKey(target.bucket, target.key + key).delta_space for key in removals}
    return [*stages[:-1], [*stages[-1], *deletes]], spaces


def _compare(
    sources: list[FileStat],
    targets: list[FileStat],
    direction: Direction,
    strategy_options: dict[str, bool],
    delete: bool,
) -> tuple[list[FileStat], list[str]]:
    """The source files to transfer, and the destination keys to delete."""
    strategy = SyncStrategy(direction, **strategy_options)
    transfers, removals = [], []
    for action in plan_sync(sources, targets, strategy, delete=delete):
        if action.source is not None:
            transfers.append(action.source)
        else:
            removals.append(action.key)
    return transfers, removals
