"""DeltaGlider's own inspection commands: `verify` and `stats`."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from deltaglider.app.cli.aws_errors import error_line
from deltaglider.app.cli.backend import make_service
from deltaglider.app.cli.locations import parse_s3
from deltaglider.app.cli.options import storage_options
from deltaglider.app.cli.output import complain, human_size, percent, print_table, say
from deltaglider.core.errors import DeltaGliderError
from deltaglider.core.models import SpaceStats


@click.command()
@click.argument("path")
@storage_options
def verify(path: str, endpoint_url: str | None, region: str | None, profile: str | None) -> int:
    """Rebuild s3://bucket/key and check its SHA256, keeping nothing."""
    location = parse_s3(path)
    service = make_service(endpoint_url, region, profile)
    try:
        result = service.verify(location.object_key())
    except DeltaGliderError as exc:
        complain(f"verify failed: {location} {error_line(exc)}")
        return 1
    if result.expected_sha256 is None:
        say(f"unverifiable: {location} carries no recorded SHA256 (not stored by DeltaGlider)")
        return 0
    if not result.ok:
        complain(
            f"verify failed: {location} rebuilt with SHA256 {result.actual_sha256}, "
            f"expected {result.expected_sha256}"
        )
        return 1
    say(f"verified: {location} sha256={result.actual_sha256}")
    return 0


@click.command()
@click.argument("path", required=False)
@storage_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def stats(
    path: str | None,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    as_json: bool,
) -> int:
    """Logical bytes, stored bytes and savings per prefix, for s3://bucket[/prefix] or
    every bucket. How many objects are deltas, how many of those are of a container's
    content (CONTENT), and what the references take (REFS, counted in STORED); computed
    from listings and metadata, nothing is downloaded."""
    service = make_service(endpoint_url, region, profile)
    if path is None:
        scopes = [(bucket.name, "") for bucket in service.list_buckets()]
    else:
        location = parse_s3(path)
        scopes = [(location.bucket, location.key)]
    report = {bucket: service.stats(bucket, prefix) for bucket, prefix in scopes}
    if as_json:
        click.echo(json.dumps(_as_json(report), indent=2))
        return 0
    every = [row for rows in report.values() for row in rows]
    print_table(
        ("BUCKET", "PREFIX", "OBJECTS", "DELTAS", "CONTENT", "REFS", "LOGICAL", "STORED", "SAVED"),
        [(bucket, row.prefix or "/", *_cells(row)) for bucket, rows in report.items()
         for row in rows],
        right=("OBJECTS", "DELTAS", "CONTENT", "REFS", "LOGICAL", "STORED", "SAVED"),
        total=("TOTAL", "", *_cells(SpaceStats.combined("", every))),
    )  # fmt: skip
    return 0


def _cells(row: SpaceStats) -> list[str]:
    return [
        str(row.objects),
        str(row.deltas),
        str(row.content_deltas),
        human_size(row.reference_bytes),
        human_size(row.logical_bytes),
        human_size(row.stored_bytes),
        percent(row.saved_bytes, row.logical_bytes),
    ]


def _as_json(report: dict[str, Sequence[SpaceStats]]) -> dict[str, object]:
    def row(stats: SpaceStats) -> dict[str, object]:
        return {
            "prefix": stats.prefix,
            "objects": stats.objects,
            "deltas": stats.deltas,
            "content_deltas": stats.content_deltas,
            "references": stats.references,
            "reference_bytes": stats.reference_bytes,
            "logical_bytes": stats.logical_bytes,
            "stored_bytes": stats.stored_bytes,
            "saved_bytes": stats.saved_bytes,
            "savings": round(stats.savings, 6),
        }

    every = [r for rows in report.values() for r in rows]
    return {
        "buckets": [
            {
                "bucket": bucket,
                "prefixes": [row(r) for r in rows],
                "total": row(SpaceStats.combined("", rows)),
            }
            for bucket, rows in report.items()
        ],
        "total": row(SpaceStats.combined("", every)),
    }
