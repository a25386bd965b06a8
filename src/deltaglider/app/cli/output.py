"""Output lines in the formats `aws s3` prints, and sizes for people."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

import click

from deltaglider.core.models import DeltaForm, PutResult, StoredAs

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_size(size: int) -> str:
    """Sizes as `aws s3 ls --human-readable` shows them: `123 Bytes`, `1.5 MiB`."""
    if size == 1:
        return "1 Byte"
    if size < 1024:
        return f"{size} Bytes"
    for power, unit in enumerate(_UNITS, start=1):
        value = size / 1024**power
        if round(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def ls_time(moment: datetime) -> str:
    """`2026-11-21 08:30:00`, in local time as aws prints it."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def ls_object_line(modified: datetime, size: str, name: str) -> str:
    """`2026-11-21 08:30:00    1234567 app-1.0.zip`."""
    return f"{ls_time(modified)} {size:>10} {name}"


def ls_prefix_line(name: str) -> str:
    """`                           PRE releases/`."""
    return f"{'PRE':>30} {name}"


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def stored_how(result: PutResult) -> str:
    """How an upload was stored, as `put` says it: `whole`, `new reference` (its bytes
    counted), `content delta` (of a container's content) or `delta` (of its bytes)."""
    if result.stored_as is StoredAs.DIRECT:
        return "whole"
    if result.created_reference:
        return "new reference"
    return "content delta" if result.form is DeltaForm.CONTENT else "delta"


def say(line: str, *, quiet: bool = False) -> None:
    if not quiet:
        click.echo(line)


def complain(line: str) -> None:
    click.echo(line, err=True)


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Collection[str] = (),
    total: Sequence[str] | None = None,
) -> None:
    """A table on stdout, aligned as `stats` and `fsck` print theirs (`right`: the columns
    aligned right; `total`: a last row set apart). rich is loaded only here: commands
    that print no table start without it."""
    from rich import box  # noqa: PLC0415
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    for row in rows:
        table.add_row(*row)
    if total is not None:
        table.add_row(*total, end_section=True)
    Console(width=200).print(table)
