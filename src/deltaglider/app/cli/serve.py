"""`deltaglider serve`: the S3-compatible gateway (app/gateway/, docs/GATEWAY.md)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from deltaglider.app.gateway import Authenticator, Gateway, ServerConfig, load_users, run
from deltaglider.app.settings import Settings
from deltaglider.app.wiring import build_service


@click.command()
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Store in this directory (buckets are its subdirectories).",
)
@click.option(
    "--upstream", metavar="URL", help="Store in this S3 endpoint (credentials as boto3 finds them)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8333, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--users",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="DG_GATEWAY_USERS",
    metavar="FILE",
    help="`ACCESS_KEY SECRET_KEY` a line (also DG_GATEWAY_USERS).",
)
@click.option(
    "--allow-anonymous",
    is_flag=True,
    help="Serve requests that carry no signature (and, with no users, any).",
)
@click.option("--workers", type=click.IntRange(1, 64), metavar="N",
              help="Worker processes (default: one per CPU).")  # fmt: skip
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, exists=True),
    metavar="FILE",
    help="Serve HTTPS with this certificate (PEM; with --tls-key).",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, exists=True),
    metavar="FILE",
    help="The certificate's private key (PEM).",
)
@click.option(
    "--domain",
    metavar="NAME",
    help="Also take virtual-host style requests: Host BUCKET.NAME addresses BUCKET.",
)
def serve(
    data: Path | None,
    upstream: str | None,
    host: str,
    port: int,
    users: Path | None,
    allow_anonymous: bool,
    workers: int | None,
    tls_cert: str | None,
    tls_key: str | None,
    domain: str | None,
) -> None:
    """Serve the S3 API over HTTP, storing deltas: any S3 client, pointed here with
    --endpoint-url, gets delta storage. Without --data or --upstream, the backend is
    the one AWS_ENDPOINT_URL (or the AWS environment) names."""
    if data is not None and upstream is not None:
        raise click.UsageError("give --data or --upstream, not both")
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("give --tls-cert and --tls-key together")
    known = load_users(users) if users is not None else {}
    if not known and not allow_anonymous:
        raise click.UsageError(
            "no users: give --users FILE (or DG_GATEWAY_USERS), or --allow-anonymous "
            "to serve without authentication"
        )
    if data is not None:
        data.mkdir(parents=True, exist_ok=True)
        endpoint: str | None = data.resolve().as_uri()
    else:
        endpoint = upstream
    settings = Settings.load(os.environ, endpoint_url=endpoint)
    build_service(settings)  # a bad setting fails here, in one line, before any fork
    auth = Authenticator(known, allow_anonymous=allow_anonymous)
    backend = f"data {data}" if data is not None else f"upstream {settings.endpoint_url or 'AWS'}"
    tls = (tls_cert, tls_key) if tls_cert and tls_key else None
    count = workers or os.cpu_count() or 1
    config = ServerConfig(host, port, count, backend, settings.log_level, tls)
    run(config, lambda metrics: Gateway(build_service(settings), auth, metrics, domain))
