"""`deltaglider rm`: delete logical objects, as `aws s3 rm` does."""

from __future__ import annotations

from functools import partial

import click

from deltaglider.app.cli.context import Job, job_options
from deltaglider.app.cli.locations import parse_s3
from deltaglider.app.cli.plan import as_directory, delete_tasks, s3_objects
from deltaglider.app.cli.transfers import Task
from deltaglider.core.errors import DeltaGliderError
from deltaglider.core.models import ObjectKey


@click.command()
@click.argument("path")
@click.option("--recursive", is_flag=True, help="Delete every object below the prefix.")
@job_options(deltas=False)
def rm(path: str, recursive: bool, job: Job) -> int:
    """Delete s3://bucket/key (or, with --recursive, everything below a prefix).

    A reference goes with the last delta that needs it.
    """
    location = parse_s3(path)
    service, reporter = job.service, job.reporter
    if not recursive:
        target = location.object_key()
        return reporter.run([[Task("delete", str(location), 0, partial(service.delete, target))]])
    root = as_directory(location)
    try:
        keys = [file.key for file in s3_objects(service, root, job.filters)]
    except DeltaGliderError as exc:
        reporter.fatal(str(exc))
        return reporter.exit_code
    with service.batch():
        code = reporter.run([delete_tasks(service, root, keys)])
    if not job.dryrun:  # deletes that ran side by side may each have seen the other's delta
        for space in {ObjectKey(root.bucket, root.key + key).delta_space for key in keys}:
            service.drop_unused_reference(space)
    return code
