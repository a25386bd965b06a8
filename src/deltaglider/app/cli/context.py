"""What transfer commands share: their flags turned into a Job."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from deltaglider.adapters.s3_requests import RequestOptions
from deltaglider.app.cli.aws_errors import Fatal
from deltaglider.app.cli.backend import make_service
from deltaglider.app.cli.options import (
    DELTA_ACLS,
    RESTORE_FIRST_CLASSES,
    apply_options,
    delta_options,
    filter_options,
    object_options,
    output_options,
    request_options,
    storage_options,
    write_options,
)
from deltaglider.app.cli.publish import StoreOptions
from deltaglider.app.cli.transfers import OutputMode, Reporter
from deltaglider.core.filters import FilterRule, Filters

if TYPE_CHECKING:
    from deltaglider.core.service import DeltaService


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


def kept_headers(**given: str | None) -> dict[str, str] | None:
    """The header flags given, by their header's lowercase name; None when none was."""
    headers = {name.replace("_", "-"): value for name, value in given.items() if value}
    return headers or None


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
            cache_control: str | None = None,
            content_disposition: str | None = None,
            content_encoding: str | None = None,
            content_language: str | None = None,
            expires: str | None = None,
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
                reporter=Reporter(
                    mode,
                    on_interrupt=service.interruption.interrupt,
                    budget=service.memory,
                    check=service.interruption.check,
                ),
                filters=ordered_filters(follow_symlinks),
                storing=StoreOptions(
                    no_delta,
                    content_type,
                    metadata,
                    metadata_directive,
                    not no_guess_mime_type,
                    kept_headers(
                        cache_control=cache_control,
                        content_disposition=content_disposition,
                        content_encoding=content_encoding,
                        content_language=content_language,
                        expires=expires,
                    ),
                ),
                dryrun=dryrun,
            )
            return command(*args, job=job, **kwargs)

        options = [storage_options, request_options, output_options, filter_options]
        if deltas:
            options[2:2] = [delta_options, object_options, write_options]
        return apply_options(with_job, options)

    return decorate
