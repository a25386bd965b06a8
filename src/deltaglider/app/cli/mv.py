"""`deltaglider mv`: move files to, from and within S3, as `aws s3 mv`: each is copied
as `cp` copies it, and its source removed once the copy succeeded (never before, so a
failed move loses nothing)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

import click

from deltaglider.app.cli.aws_errors import Fatal
from deltaglider.app.cli.context import Job, job_options
from deltaglider.app.cli.cp import USAGE, plan_file, plan_tree
from deltaglider.app.cli.locations import is_s3
from deltaglider.app.cli.transfers import Task
from deltaglider.core.errors import DeltaGliderError
from deltaglider.core.models import ObjectKey
from deltaglider.core.service import DeltaService


@click.command()
@click.argument("source")
@click.argument("destination")
@click.option("--recursive", is_flag=True, help="Move every file below SOURCE.")
@job_options()
def mv(source: str, destination: str, recursive: bool, job: Job) -> int:
    """Move a local file or S3 object to another location locally or in S3.

    The forms are those of `cp`; the source goes only once its copy is complete.
    """
    if not (is_s3(source) or is_s3(destination)):
        raise Fatal(f"usage: deltaglider mv {USAGE}: Invalid argument type")
    service, reporter = job.service, job.reporter
    try:
        if recursive:
            stages = plan_tree(service, source, destination, job.filters, reporter, job.storing)
        else:
            stages = [[plan_file(service, source, destination, job.storing)]]
    except DeltaGliderError as exc:  # listing or looking up the source failed
        reporter.fatal(exc)
        return reporter.exit_code
    moves = [[_moving(service, task) for task in stage] for stage in stages]
    with service.batch():
        return reporter.run(moves)


def _moving(service: DeltaService, task: Task) -> Task:
    return replace(task, verb="move", run=partial(_move, service, task))


def _move(service: DeltaService, task: Task) -> None:
    task.run()
    if isinstance(task.origin, ObjectKey):
        service.delete(task.origin)
    elif isinstance(task.origin, Path):
        task.origin.unlink()
