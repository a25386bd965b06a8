"""The service a command works with: built from the command's storage flags, else the
group's (`deltaglider --endpoint-url URL ls`), else the environment. Kept apart from the
transfer machinery so that `ls` and the other listing commands start without it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from deltaglider.adapters.s3_requests import PLAIN, RequestOptions
from deltaglider.app.settings import Settings

if TYPE_CHECKING:
    from deltaglider.core.service import DeltaService


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
