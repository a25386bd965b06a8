"""What every command shares: the storage flags, and building the service from them."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from deltaglider.app.settings import Settings
from deltaglider.app.wiring import build_service
from deltaglider.core.service import DeltaService

F = TypeVar("F", bound=Callable[..., Any])


class Fatal(Exception):
    """A problem found before anything is transferred; printed as is, exit status 255."""


def storage_options(command: F) -> F:
    """`--endpoint-url`, `--region`, `--profile`, as `aws s3` takes them."""
    for option in reversed(
        [
            click.option(
                "--endpoint-url",
                metavar="URL",
                help="S3 endpoint (http[s]://host:port) or a local store (file:///abs/path).",
            ),
            click.option("--region", metavar="REGION", help="AWS region of the bucket."),
            click.option("--profile", metavar="NAME", help="AWS profile to take credentials from."),
        ]
    ):
        command = option(command)
    return command


def make_service(
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    max_ratio: float | None = None,
) -> DeltaService:
    settings = Settings.load(
        os.environ,
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        max_ratio=max_ratio,
    )
    return build_service(settings)
