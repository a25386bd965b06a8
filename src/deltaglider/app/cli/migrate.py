"""`deltaglider migrate SRC DST`: bring an existing plain S3 prefix into delta storage."""

from __future__ import annotations

import click

from deltaglider.app.cli.context import Job, job_options
from deltaglider.app.cli.locations import parse_s3
from deltaglider.app.cli.output import human_size, percent, say
from deltaglider.app.cli.plan import as_directory, copy_tasks, s3_objects
from deltaglider.core.errors import DeltaGliderError
from deltaglider.core.models import SpaceStats
from deltaglider.core.sync import Direction, SyncStrategy, plan_sync


@click.command()
@click.argument("source")
@click.argument("destination")
@job_options()
def migrate(source: str, destination: str, job: Job) -> int:
    """Copy every object under SOURCE (s3://bucket/prefix, plain S3) into DESTINATION
    (s3://bucket/prefix, stored as deltas). Resumable: objects already at the
    destination with the same size are skipped, so an interrupted run can be repeated."""
    service, reporter, filters = job.service, job.reporter, job.filters
    origin, target = as_directory(parse_s3(source)), as_directory(parse_s3(destination))
    try:
        sources = s3_objects(service, origin, filters)
        present = s3_objects(service, target, filters)
    except DeltaGliderError as exc:
        reporter.fatal(exc)
        return reporter.exit_code
    strategy = SyncStrategy(Direction.COPY, size_only=True)
    todo = [a.source for a in plan_sync(sources, present, strategy) if a.source is not None]
    with service.batch():
        code = reporter.run(copy_tasks(service, origin, todo, target, job.storing))
    if reporter.mode.quiet or reporter.mode.only_show_errors:
        return code
    skipped = len(sources) - len(todo)
    verb = "would migrate" if job.dryrun else "migrated"
    say(f"{verb} {len(todo)} object(s), {skipped} already there")
    if not job.dryrun:
        row = SpaceStats.combined(target.key, service.stats(target.bucket, target.key))
        saved = percent(row.saved_bytes, row.logical_bytes)
        say(
            f"{target}: {human_size(row.logical_bytes)} stored as "
            f"{human_size(row.stored_bytes)} ({saved} saved)"
        )
    return code
