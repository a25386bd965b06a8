"""`-` as a path: standard input for an upload, standard output for a download, as
`aws s3 cp` takes it. Neither prints a line of its own on success (stdout may be the
data); a download writes its first byte only once the object was rebuilt and checked."""

from __future__ import annotations

import sys
from functools import partial

from deltaglider.app.cli.aws_errors import aws_line
from deltaglider.app.cli.locations import S3Location
from deltaglider.app.cli.publish import StoreOptions
from deltaglider.app.cli.transfers import Task
from deltaglider.core.errors import DeltaGliderError, ObjectNotFound
from deltaglider.core.service import DeltaService

STREAM = "-"


def upload_task(service: DeltaService, target: S3Location, storing: StoreOptions) -> Task:
    """Standard input to `target` (read to its end, then stored)."""
    return Task(
        "upload",
        f"{STREAM} to {target}",
        0,
        partial(_from_stdin, service, target, storing),
        silent=True,
    )


def download_task(service: DeltaService, origin: S3Location) -> Task:
    """`origin` to standard output."""
    return Task("download", f"{origin} to {STREAM}", 0, partial(_to_stdout, service, origin),
                silent=True)  # fmt: skip


def _from_stdin(service: DeltaService, target: S3Location, storing: StoreOptions) -> None:
    service.put(
        target.object_key(),
        sys.stdin.buffer,
        content_type=storing.content_type,  # nothing to guess it from
        user_metadata=storing.metadata,
        headers=storing.headers,
        no_delta=storing.no_delta,
    )


def _to_stdout(service: DeltaService, origin: S3Location) -> None:
    try:
        with service.open(origin.object_key()) as stream:
            out = sys.stdout.buffer
            for chunk in stream:
                out.write(chunk)
            out.flush()
    except ObjectNotFound:  # as aws says it: the HEAD's own answer
        raise DeltaGliderError(aws_line("404", "HeadObject", "Not Found")) from None
