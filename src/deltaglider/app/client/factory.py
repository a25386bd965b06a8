"""create_client: boto3.client("s3", ...)'s keyword arguments in, a client out.

The client is a botocore S3 client, made by boto3's default session as `boto3.client`
makes one, so it has boto3's every method, paginator, waiter, transfer method and
exception class (the same classes: one exception factory per session). Its calls are
answered by a DeltaService (dispatch.py) instead of being sent: over S3 through a
second, ordinary boto3 client made from the same arguments, or over a local directory
for a `file:///abs/path` endpoint.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.client import BaseClient
from botocore.config import Config

from deltaglider.adapters.localfs import LocalFilesystemStorage
from deltaglider.adapters.s3 import S3Storage
from deltaglider.app.client.backend import Backend
from deltaglider.app.client.dispatch import Dispatcher
from deltaglider.app.client.extras import DeltaGliderMethods
from deltaglider.app.settings import Settings
from deltaglider.app.wiring import build_service, s3_config
from deltaglider.core.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from deltaglider.app.client.types import DeltaGliderClient

# Nothing is sent by the client itself: no checksums to compute for requests that go
# nowhere, and none asked of s3transfer (the store's own client sends what it needs).
_FRONT = Config(
    request_checksum_calculation="when_required", response_checksum_validation="when_required"
)
_SESSION_LOCK = threading.Lock()


def create_client(
    service_name: str = "s3",
    region_name: str | None = None,
    api_version: str | None = None,
    use_ssl: bool | None = True,
    verify: bool | str | None = None,
    endpoint_url: str | None = None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    aws_session_token: str | None = None,
    config: Config | None = None,
    aws_account_id: str | None = None,
) -> DeltaGliderClient:
    """A boto3 S3 client whose objects are stored as deltas: `boto3.client("s3", ...)`'s
    arguments (`endpoint_url` may also be `file:///abs/path`, a local store). DG_*
    environment variables configure the storage as they do for the command line."""
    if service_name != "s3":
        raise ValueError(f"DeltaGlider's client is an S3 client, not {service_name!r}")
    try:
        settings = Settings.load(os.environ, endpoint_url=endpoint_url, region=region_name)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    session = _default_session()
    arguments: dict[str, Any] = {
        "region_name": region_name,
        "api_version": api_version,
        "use_ssl": use_ssl,
        "verify": verify,
        "aws_access_key_id": aws_access_key_id,
        "aws_secret_access_key": aws_secret_access_key,
        "aws_session_token": aws_session_token,
        "aws_account_id": aws_account_id,
    }
    store: S3Client | None = None
    storage: LocalFilesystemStorage | S3Storage
    if settings.file_root is not None:
        storage = LocalFilesystemStorage(settings.file_root)
        # Not the endpoint in the environment, which may be this very file:// URL.
        ignore_environment: dict[str, Any] = {"ignore_configured_endpoint_urls": True}
        front_config = _FRONT.merge(Config(**ignore_environment))
        front = session.client("s3", config=_merged(config, front_config), **arguments)
        endpoint = settings.file_root.as_uri()
    else:
        ours = s3_config(settings.endpoint_url)
        store = session.client(
            "s3", endpoint_url=settings.endpoint_url, config=_merged(ours, config), **arguments
        )
        storage = S3Storage(store)
        front = session.client(
            "s3", endpoint_url=settings.endpoint_url, config=_merged(config, _FRONT), **arguments
        )
        endpoint = store.meta.endpoint_url
    region = (store or front).meta.region_name or "us-east-1"
    service = build_service(settings, storage, storage)
    return answered_by(front, Backend(service, store, region, endpoint))


def answered_by(front: BaseClient, backend: Backend) -> DeltaGliderClient:
    """Turn a botocore S3 client into DeltaGlider's: its calls answered by `backend`,
    DeltaGlider's methods added (tests use this with a service over memory)."""
    dispatcher = Dispatcher(backend)
    events = front.meta.events
    events.register_last("before-parameter-build.s3", dispatcher.keep_params)
    events.register_last("before-call.s3", cast(Any, dispatcher.answer))
    client: Any = front
    client.__class__ = type(
        f"DeltaGlider{type(front).__name__}", (DeltaGliderMethods, type(front)), {}
    )
    client._deltaglider = dispatcher
    return cast("DeltaGliderClient", client)


def _merged(base: Config | None, top: Config | None) -> Config:
    """`top`'s settings over `base`'s."""
    if base is None:
        return top or Config()
    return base if top is None else base.merge(top)


def _default_session() -> boto3.session.Session:
    """boto3's default session, as `boto3.client` uses it (created on first use)."""
    with _SESSION_LOCK:
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        return boto3.DEFAULT_SESSION
