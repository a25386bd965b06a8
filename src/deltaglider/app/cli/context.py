"""What commands share: the storage and transfer flags, and building the service."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from deltaglider.adapters.s3_requests import PLAIN, RequestOptions
from deltaglider.app.cli.publish import StoreOptions
from deltaglider.app.cli.transfers import OutputMode, Reporter
from deltaglider.app.settings import Settings
from deltaglider.core.filters import FilterRule, Filters

if TYPE_CHECKING:
    from deltaglider.core.service import DeltaService

F = TypeVar("F", bound=Callable[..., Any])


class Fatal(Exception):
    """A problem found before anything is transferred; printed as is, exit status 255."""


def _apply(command: F, options: Sequence[Callable[[F], F]]) -> F:
    for option in reversed(options):
        command = option(command)
    return command


def storage_options(command: F) -> F:
    """`--endpoint-url`, `--region`, `--profile`, as `aws s3` takes them."""
    return _apply(
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
    return _apply(
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


def object_options(command: F) -> F:
    """What uploads and copies record for the objects, as `aws s3` takes it:
    `--content-type`, `--metadata`, `--metadata-directive`, `--no-guess-mime-type`."""
    return _apply(
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
    return _apply(
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
    return _apply(
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


def requests_for(
    no_delta: bool,
    request_payer: str | None,
    page_size: int | None,
    acl: str | None = None,
    sse: str | None = None,
    sse_kms_key_id: str | None = None,
    storage_class: str | None = None,
) -> RequestOptions:
    """The flags as request options; those a delta cannot be stored with are refused
    unless files are stored whole (`--no-delta`), with the reason."""
    if not no_delta and acl is not None and acl not in DELTA_ACLS:
        raise Fatal(
            f"--acl {acl} cannot apply to objects stored as deltas: S3 would give readers "
            "the delta's bytes, not the file's. Add --no-delta to store files whole, or "
            "serve them through `deltaglider serve`"
        )
    if not no_delta and storage_class in RESTORE_FIRST_CLASSES:
        raise Fatal(
            f"--storage-class {storage_class} cannot apply to objects stored as deltas: "
            "a delta is read with its reference, and objects in this class must be restored "
            "before they can be read. Add --no-delta to store files whole, or choose a class "
            "read at once (STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR)"
        )
    if sse_kms_key_id is not None and sse != "aws:kms":
        raise Fatal("--sse-kms-key-id needs --sse aws:kms")
    return RequestOptions(acl, sse, sse_kms_key_id, storage_class, request_payer, page_size)


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


def output_options(command: F) -> F:
    """`--dryrun`, `--quiet`, `--only-show-errors`, `--no-progress`."""
    return _apply(
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
    return _apply(
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


def ordered_filters(follow_symlinks: bool = True) -> Filters:
    """The --exclude/--include rules in command-line order, which click does not keep
    across two options: read back from the arguments `main.run` recorded."""
    argv: list[str] = click.get_current_context().find_root().meta.get("argv", [])
    rules: list[FilterRule] = []
    tokens = iter(argv)
    for token in tokens:
        for flag in ("--exclude", "--include"):
            if token == flag:
                rules.append(FilterRule(flag[2:], next(tokens, "")))  # type: ignore[arg-type]
            elif token.startswith(flag + "="):
                rules.append(FilterRule(flag[2:], token[len(flag) + 1 :]))  # type: ignore[arg-type]
    return Filters(tuple(rules), follow_symlinks=follow_symlinks)


@dataclass(frozen=True)
class Job:
    """What a transfer command works with, built from its shared flags."""

    service: DeltaService
    reporter: Reporter
    filters: Filters
    storing: StoreOptions
    dryrun: bool


Command = Callable[..., Any]


def job_options(*, deltas: bool = True) -> Callable[[Command], Command]:
    """The storage, output and filter flags (and the delta flags, for commands that
    store), turned into one `job` argument for the command."""

    def decorate(command: Command) -> Command:
        @functools.wraps(command)
        def with_job(
            *args: Any,
            endpoint_url: str | None,
            region: str | None,
            profile: str | None,
            dryrun: bool,
            quiet: bool,
            only_show_errors: bool,
            no_progress: bool,
            exclude: tuple[str, ...],
            include: tuple[str, ...],
            follow_symlinks: bool,
            no_delta: bool = False,
            max_ratio: float | None = None,
            content_type: str | None = None,
            metadata: dict[str, str] | None = None,
            metadata_directive: str | None = None,
            no_guess_mime_type: bool = False,
            request_payer: str | None = None,
            page_size: int | None = None,
            acl: str | None = None,
            sse: str | None = None,
            sse_kms_key_id: str | None = None,
            storage_class: str | None = None,
            **kwargs: Any,
        ) -> Any:
            requests = requests_for(
                no_delta, request_payer, page_size, acl, sse, sse_kms_key_id, storage_class
            )
            service = make_service(endpoint_url, region, profile, max_ratio, requests)
            mode = OutputMode(quiet, only_show_errors, not no_progress, dryrun)
            job = Job(
                service=service,
                reporter=Reporter(mode, on_interrupt=service.interruption.interrupt),
                filters=ordered_filters(follow_symlinks),
                storing=StoreOptions(
                    no_delta, content_type, metadata, metadata_directive, not no_guess_mime_type
                ),
                dryrun=dryrun,
            )
            return command(*args, job=job, **kwargs)

        options = [storage_options, request_options, output_options, filter_options]
        if deltas:
            options[2:2] = [delta_options, object_options, write_options]
        return _apply(with_job, options)

    return decorate


def make_service(
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    max_ratio: float | None = None,
    requests: RequestOptions = PLAIN,
) -> DeltaService:
    """The service for this command: its flags, else the group's, else the environment."""
    shared: dict[str, str | None] = click.get_current_context().find_root().meta
    settings = Settings.load(
        os.environ,
        endpoint_url=endpoint_url or shared.get("endpoint_url"),
        region=region or shared.get("region"),
        profile=profile or shared.get("profile"),
        max_ratio=max_ratio,
        requests=requests,
    )
    from deltaglider.app.wiring import build_service  # noqa: PLC0415 (loaded when a command runs)

    return build_service(settings)
