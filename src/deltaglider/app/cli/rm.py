"""`deltaglider rm`: delete logical objects, as `aws s3 rm` does."""

from __future__ import annotations

from functools import partial

import click

from deltaglider.app.cli.context import (
    filter_options,
    make_service,
    ordered_filters,
    output_options,
    storage_options,
)
from deltaglider.app.cli.locations import parse_s3
from deltaglider.app.cli.plan import as_directory, delete_tasks, s3_objects
from deltaglider.app.cli.transfers import OutputMode, Reporter, Task
from deltaglider.core.errors import DeltaGliderError
from deltaglider.core.models import ObjectKey


@click.command()
@click.argument("path")
@click.option("--recursive", is_flag=True, help="Delete every object below the prefix.")
@storage_options
@output_options
@filter_options
def rm(
    path: str,
    recursive: bool,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    dryrun: bool,
    quiet: bool,
    only_show_errors: bool,
    no_progress: bool,
    exclude: tuple[str, ...],
    include: tuple[str, ...],
) -> int:
    """Delete s3://bucket/key (or, with --recursive, everything below a prefix).

    A reference goes with the last delta that needs it.
    """
    location = parse_s3(path)
    service = make_service(endpoint_url, region, profile)
    reporter = Reporter(OutputMode(quiet, only_show_errors, not no_progress, dryrun))
    if not recursive:
        target = location.object_key()
        return reporter.run([[Task("delete", str(location), 0, partial(service.delete, target))]])
    root = as_directory(location)
    try:
        keys = [file.key for file in s3_objects(service, root, ordered_filters())]
    except DeltaGliderError as exc:
        reporter.fatal(str(exc))
        return reporter.exit_code
    with service.index_batch():
        code = reporter.run([delete_tasks(service, root, keys)])
    if not dryrun:  # deletes that ran side by side may each have seen the other's delta
        for space in {ObjectKey(root.bucket, root.key + key).delta_space for key in keys}:
            service.drop_unused_reference(space)
    return code
