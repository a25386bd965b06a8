"""`deltaglider fsck`: check a bucket's delta storage, optionally repair it."""

from __future__ import annotations

from datetime import timedelta

import click

from deltaglider.app.cli.backend import make_service
from deltaglider.app.cli.gc import grace_option
from deltaglider.app.cli.locations import parse_s3
from deltaglider.app.cli.options import storage_options
from deltaglider.app.cli.output import ls_time, print_table, say
from deltaglider.core.fsck import Problem, check, repair, why_unused


@click.command()
@click.argument("path")
@click.option("--verify", is_flag=True, help="Also rebuild every object and check its SHA256.")
@click.option("--repair", "fix", is_flag=True, help="Run gc and remove stale copies.")
@grace_option
@storage_options
def fsck(
    path: str,
    verify: bool,
    fix: bool,
    grace: timedelta,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
) -> int:
    """Check s3://bucket[/prefix]: missing or changed references, unreadable metadata,
    keys stored twice, unused objects; with --verify every object's SHA256. Read-only
    unless --repair. Exit status 1 when problems remain; unused objects within the grace
    period are listed as scheduled, not problems."""
    location = parse_s3(path)
    service = make_service(endpoint_url, region, profile)
    report = check(service, location.bucket, location.key, verify=verify, grace=grace)
    if fix:
        repair(service, location.bucket, location.key, report, grace=grace)
    if report.findings or report.scheduled:
        rows = []
        for finding in report.findings:
            action = (
                "removed"
                if finding in report.repaired
                else ("--repair removes it" if finding.problem.repairable else "none possible")
            )
            rows.append((finding.key, finding.problem.value, finding.detail, action))
        for item in report.scheduled:
            due = f"scheduled for removal {ls_time(item.due)}"
            rows.append((item.key, Problem.UNUSED.value, why_unused(item), due))
        print_table(("OBJECT", "PROBLEM", "DETAIL", "ACTION"), rows)
    say(
        f"checked {report.objects} object(s) in {report.spaces} prefix(es): "
        f"{len(report.findings)} problem(s), {len(report.repaired)} repaired"
    )
    return 0 if report.clean else 1
