"""The flags commands share, as `aws s3` takes them: declared here, with click alone, so
the command line can show them (and `--help`) before it imports anything else."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def apply_options(command: F, options: Sequence[Callable[[F], F]]) -> F:
    for option in reversed(options):
        command = option(command)
    return command


def storage_options(command: F) -> F:
    """`--endpoint-url`, `--region`, `--profile`, as `aws s3` takes them."""
    return apply_options(
        command,
        [
            click.option(
                "--endpoint-url",
                metavar="URL",
                help="S3 endpoint (http[s]://host:port) or a local store (file:///abs/path).",
            ),
            click.option("--region", metavar="REGION", help="AWS region of the bucket."),
            click.option("--profile", metavar="NAME", help="AWS profile to take credentials from."),
        ],
    )


def delta_options(command: F) -> F:
    """How uploads are stored: `--no-delta`, `--max-ratio`."""
    return apply_options(
        command,
        [
            click.option("--no-delta", is_flag=True, help="Store files whole, never as deltas."),
            click.option(
                "--max-ratio",
                type=float,
                metavar="RATIO",
                help="Largest delta/file size ratio kept as a delta, 0-1 (DG_MAX_RATIO).",
            ),
        ],
    )


# The headers S3 keeps with an object and gives back on GET and HEAD, by flag.
HEADER_FLAGS = {
    "--cache-control": "Cache-Control",
    "--content-disposition": "Content-Disposition",
    "--content-encoding": "Content-Encoding",
    "--content-language": "Content-Language",
    "--expires": "Expires",
}


def object_options(command: F) -> F:
    """What uploads and copies record for the objects, as `aws s3` takes it:
    `--content-type`, `--metadata`, `--metadata-directive`, `--no-guess-mime-type`."""
    return apply_options(
        command,
        [
            click.option("--content-type", metavar="TYPE", help="Content-Type of the objects."),
            click.option(
                "--metadata",
                metavar="KEY=VALUE,...",
                callback=lambda _context, _param, value: parse_metadata(value),
                help='User metadata: key1=value1,key2=value2 or JSON {"key1": "value1"}.',
            ),
            click.option(
                "--metadata-directive",
                type=click.Choice(["COPY", "REPLACE"]),
                help="Copies within S3: keep the source's metadata, or use the given.",
            ),
            *(
                click.option(flag, metavar="VALUE", help=f"{header} of the objects.")
                for flag, header in HEADER_FLAGS.items()
                if flag != "--expires"
            ),
            click.option(
                "--expires",
                metavar="TIME",
                callback=lambda _context, _param, value: http_date(value),
                help="Expires of the objects: an ISO 8601 time, seconds since 1970, or an "
                "HTTP date.",
            ),
            click.option(
                "--no-guess-mime-type",
                is_flag=True,
                help="Do not guess a file's Content-Type from its name.",
            ),
        ],
    )


CANNED_ACLS = (
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
)
# What a delta can be stored with: an ACL that lets others read it would give them the
# delta's bytes, not the file's; a class that must be restored first would leave every
# delta of its reference unreadable until then.
DELTA_ACLS = frozenset({"private", "bucket-owner-read", "bucket-owner-full-control"})
RESTORE_FIRST_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})


def request_options(command: F) -> F:
    """`--request-payer`, `--page-size`: what every request and listing carries."""
    return apply_options(
        command,
        [
            click.option(
                "--request-payer",
                type=click.Choice(["requester"]),
                is_flag=False,
                flag_value="requester",
                help="Confirm that the requester pays for the requests (Requester Pays buckets).",
            ),
            click.option(
                "--page-size",
                type=click.IntRange(1, 1000),
                metavar="N",
                help="Keys asked of S3 per listing request (default 1000).",
            ),
        ],
    )


def write_options(command: F) -> F:
    """`--acl`, `--sse`, `--sse-kms-key-id`, `--storage-class`, as `aws s3` takes them,
    for every S3 object an upload or copy writes."""
    return apply_options(
        command,
        [
            click.option(
                "--acl",
                type=click.Choice(CANNED_ACLS),
                metavar="ACL",
                help="Canned ACL of the objects (other than private and bucket-owner-* "
                "only with --no-delta).",
            ),
            click.option(
                "--sse",
                type=click.Choice(["AES256", "aws:kms"]),
                is_flag=False,
                flag_value="AES256",
                help="Server-side encryption of the objects (AES256 if no value is given).",
            ),
            click.option("--sse-kms-key-id", metavar="KEY", help="The KMS key for --sse aws:kms."),
            click.option(
                "--storage-class",
                metavar="CLASS",
                help="Storage class of the objects: STANDARD, STANDARD_IA, ... (GLACIER and "
                "DEEP_ARCHIVE only with --no-delta).",
            ),
        ],
    )


def parse_metadata(text: str | None) -> dict[str, str] | None:
    """`--metadata` as aws reads it: `k1=v1,k2=v2`, or a JSON object."""
    if text is None:
        return None
    if text.lstrip().startswith("{"):
        try:
            found = json.loads(text)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}") from None
        if not isinstance(found, dict):
            raise click.BadParameter("give an object of keys and values")
        return {str(k): str(v) for k, v in found.items()}
    pairs = [item.partition("=") for item in text.split(",") if item]
    if any(not sep for _, sep, _ in pairs):
        raise click.BadParameter(f"{text!r} is not key=value[,key=value...]")
    return {key: value for key, _, value in pairs}


def http_date(text: str | None) -> str | None:
    """`--expires` as S3 keeps the header, an HTTP date (`Tue, 01 Jan 2030 00:00:00 GMT`),
    from any of the forms aws takes."""
    if text is None:
        return None
    import email.utils  # noqa: PLC0415 (only for --expires: the others start without it)

    moment: datetime | None = None
    with contextlib.suppress(ValueError):
        moment = datetime.fromisoformat(text)
    if moment is None:
        with contextlib.suppress(ValueError, OverflowError):
            moment = datetime.fromtimestamp(float(text), UTC)
    if moment is None:
        with contextlib.suppress(ValueError, TypeError):
            moment = email.utils.parsedate_to_datetime(text)
    if moment is None:
        raise click.BadParameter(f"{text!r} is not a time (2030-01-01T00:00:00Z, for one)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return email.utils.format_datetime(moment.astimezone(UTC), usegmt=True)


def output_options(command: F) -> F:
    """`--dryrun`, `--quiet`, `--only-show-errors`, `--no-progress`."""
    return apply_options(
        command,
        [
            click.option("--dryrun", is_flag=True, help="Show what would be done; change nothing."),
            click.option(
                "--quiet", is_flag=True, help="Print nothing about the operations, not even errors."
            ),
            click.option(
                "--only-show-errors", is_flag=True, help="Print only errors and warnings."
            ),
            click.option("--no-progress", is_flag=True, help="No progress bar."),
        ],
    )


def filter_options(command: F) -> F:
    """`--exclude` / `--include` (aws semantics: in order, the last match wins), and
    `--follow-symlinks` / `--no-follow-symlinks` for local trees."""
    return apply_options(
        command,
        [
            click.option(
                "--follow-symlinks/--no-follow-symlinks",
                default=True,
                help="Follow symbolic links in a local tree (the default), or leave them out.",
            ),
            click.option(
                "--exclude", multiple=True, metavar="PATTERN", help="Skip paths matching PATTERN."
            ),
            click.option(
                "--include",
                multiple=True,
                metavar="PATTERN",
                help="Do not skip paths matching PATTERN (after an --exclude).",
            ),
        ],
    )
