"""`deltaglider gc` and the grace period it shares with `fsck --repair`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

import click

from deltaglider.app.cli.backend import make_service
from deltaglider.app.cli.locations import parse_s3
from deltaglider.app.cli.options import storage_options
from deltaglider.app.cli.output import complain, human_size, ls_time, say
from deltaglider.core.errors import DeltaGliderError
from deltaglider.core.gc import DEFAULT_GRACE, Collector, Unused
from deltaglider.core.models import DeltaSpace
from deltaglider.core.service import DeltaService

F = TypeVar("F", bound=Callable[..., Any])
_DURATION = re.compile(r"(\d+)([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`0`, `90s`, `30m`, `1h`, `7d` (a bare number is seconds)."""
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise click.BadParameter(f"{text!r} is not a duration such as 0, 90s, 30m, 1h or 7d")
    return timedelta(seconds=int(found[1]) * _UNIT_SECONDS[found[2]])


def grace_option(command: F) -> F:
    hours = int(DEFAULT_GRACE.total_seconds() // 3600)
    return click.option(
        "--grace",
        default=f"{hours}h",
        show_default=True,
        metavar="DURATION",
        callback=lambda _context, _param, value: parse_duration(value),
        help="Keep unused references younger than this (0, 90s, 30m, 1h, 7d), and incomplete "
        "uploads that moved more recently: a new reference may still be awaiting its first "
        "delta, an upload its next part.",
    )(command)


@click.command()
@click.argument("path")
@grace_option
@click.option("--dryrun", is_flag=True, help="Show what would be removed; remove nothing.")
@storage_options
def gc(
    path: str,
    grace: timedelta,
    dryrun: bool,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
) -> int:
    """Remove references no delta needs any more (and other unused internal objects)
    from the prefixes under s3://bucket[/prefix]. Also abort the incomplete multipart
    uploads of DeltaGlider's own objects that killed processes left there.

    Deleting or overwriting objects never removes a reference at once: an upload in
    another process may be making a delta against it. This does, safely beside uploads.
    Incomplete uploads of other keys (a user's own, through plain S3) are never touched.
    """
    location = parse_s3(path)
    service = make_service(endpoint_url, region, profile)
    collector = Collector(service.storage, service.clock, service.logger)
    report = collector.collect(location.bucket, location.key, grace=grace, dryrun=dryrun)
    prefix = "(dryrun) " if dryrun else ""
    for item in report.removed:
        say(f"{prefix}delete: s3://{location.bucket}/{item.key} ({_what(item)})")
    for item in report.aborted:
        size = human_size(item.size)
        say(f"{prefix}abort: s3://{location.bucket}/{item.key} ({_what(item)}, {size})")
    for item in report.scheduled:
        say(f"kept: s3://{location.bucket}/{item.key} ({_what(item)}, due {ls_time(item.due)})")
    for space in report.undecided:
        complain(f"warning: {space} has deltas with unreadable metadata: its references stay")
    for space in report.busy:
        complain(f"warning: {space} is being collected by another gc: skipped")
    for denied in report.denied:
        complain(f"warning: incomplete uploads left as they are: {denied}")
    verb = "would free" if dryrun else "freed"
    aborted = "to abort" if dryrun else "aborted"
    say(
        f"{len(report.removed)} unused object(s), {len(report.aborted)} incomplete upload(s) "
        f"{aborted}, {human_size(report.freed_bytes)} {verb}; "
        f"{len(report.scheduled)} kept for the grace period"
    )
    return 2 if report.busy or report.undecided else 0


def _what(item: Unused) -> str:
    if item.what == "upload":
        return f"incomplete upload {item.upload_id}"
    return f"unused {item.what}"


def collect_emptied(service: DeltaService, spaces: Iterable[DeltaSpace]) -> None:
    """After deletes: the prefixes left with no delta lose their references too, so that
    deleting everything leaves nothing, as with `aws s3`. A cleanup only: if it fails,
    the deletes still stand, and `gc` finds the rest later."""
    try:
        Collector(service.storage, service.clock, service.logger).collect_emptied(spaces)
    except DeltaGliderError as exc:
        service.logger.warning("unused references not removed yet (gc will): %s", exc)
