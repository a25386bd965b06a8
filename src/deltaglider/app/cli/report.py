"""DeltaGlider's own inspection commands: `verify` and `stats`."""

from __future__ import annotations

import click

from deltaglider.app.cli.context import make_service, storage_options
from deltaglider.app.cli.locations import parse_s3
from deltaglider.app.cli.output import complain, human_size, percent, say
from deltaglider.core.errors import DeltaGliderError


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
        complain(f"verify failed: {location} {exc}")
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
@click.argument("path")
@storage_options
def stats(path: str, endpoint_url: str | None, region: str | None, profile: str | None) -> int:
    """Logical bytes, stored bytes and savings per prefix under s3://bucket[/prefix]."""
    location = parse_s3(path)
    rows = make_service(endpoint_url, region, profile).stats(location.bucket, location.key)
    header = ("PREFIX", "OBJECTS", "DELTAS", "LOGICAL", "STORED", "SAVED")
    table = [header]
    for row in rows:
        table.append(
            (
                row.prefix or "/",
                str(row.objects),
                str(row.deltas),
                human_size(row.logical_bytes),
                human_size(row.stored_bytes),
                percent(row.saved_bytes, row.logical_bytes),
            )
        )
    logical = sum(row.logical_bytes for row in rows)
    stored = sum(row.stored_bytes for row in rows)
    table.append(
        (
            "TOTAL",
            str(sum(row.objects for row in rows)),
            str(sum(row.deltas for row in rows)),
            human_size(logical),
            human_size(stored),
            percent(logical - stored, logical),
        )
    )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        cells = [line[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)
        ]
        say("  ".join(cells))
    return 0
