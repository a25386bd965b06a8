"""`deltaglider fsck`: check a bucket's delta storage, optionally repair it."""

from __future__ import annotations

import click
from rich import box
from rich.console import Console
from rich.table import Table

from deltaglider.app.cli.context import make_service, storage_options
from deltaglider.app.cli.locations import parse_s3
from deltaglider.app.cli.output import say
from deltaglider.core.fsck import check, repair


@click.command()
@click.argument("path")
@click.option("--verify", is_flag=True, help="Also rebuild every object and check its SHA256.")
@click.option("--repair", "fix", is_flag=True, help="Remove orphan references and stale copies.")
@storage_options
def fsck(
    path: str,
    verify: bool,
    fix: bool,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
) -> int:
    """Check s3://bucket[/prefix]: orphans, missing or changed references, unreadable
    metadata, keys stored twice; with --verify every object's SHA256. Read-only unless
    --repair. Exit status 1 when problems remain."""
    location = parse_s3(path)
    service = make_service(endpoint_url, region, profile)
    report = check(service, location.bucket, location.key, verify=verify)
    if fix:
        repair(service, location.bucket, report)
    if report.findings:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False)
        for column in ("OBJECT", "PROBLEM", "DETAIL", "ACTION"):
            table.add_column(column)
        for finding in report.findings:
            action = (
                "removed"
                if finding in report.repaired
                else ("--repair removes it" if finding.problem.repairable else "none possible")
            )
            table.add_row(finding.key, finding.problem.value, finding.detail, action)
        Console(width=200).print(table)
    say(
        f"checked {report.objects} object(s) in {report.spaces} prefix(es): "
        f"{len(report.findings)} problem(s), {len(report.repaired)} repaired"
    )
    return 0 if report.clean else 1
