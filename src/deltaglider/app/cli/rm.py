"""`deltaglider rm`: delete logical objects, as `aws s3 rm` does."""

from __future__ import annotations

from functools import partial

import click

from deltaglider.app.cli.context import Job, job_options
from deltaglider.app.cli.gc import collect_emptied
from deltaglider.app.cli.locations import S3Location, parse_s3
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

    A prefix left with no delta loses its references too, at the end (by gc's rule);
    references other deltas still need stay until `deltaglider gc` finds them unused.
    """
    location = parse_s3(path)
    service, reporter = job.service, job.reporter
    if not recursive:
        target = location.object_key()
        code = reporter.run([[Task("delete", str(location), 0, partial(service.delete, target))]])
        keys = [location.key]
        root = S3Location(location.bucket, "")
    else:
        root = as_directory(location)
        try:
            keys = [file.key for file in s3_objects(service, root, job.filters)]
        except DeltaGliderError as exc:
            reporter.fatal(exc)
            return reporter.exit_code
        with service.batch():
            code = reporter.run([delete_tasks(service, root, keys)])
    if not job.dryrun and code == 0:  # after a failure, gc finds what is left later
        collect_emptied(service, {ObjectKey(root.bucket, root.key + k).delta_space for k in keys})
    return code
