"""Running the gateway: gunicorn (docs/BENCHMARKS.md says why) with threaded workers,
each worker process building its own service after the fork (a boto3 client must not
cross a fork), all of them stateless over the one backend.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]
from gunicorn.http import message, parser  # type: ignore[import-untyped]

from deltaglider.app.gateway.app import ACCESS_LOGGER, Gateway

THREADS = 8  # requests in flight per worker process
TIMEOUT = 120  # seconds a worker may be silent before gunicorn replaces it


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int
    workers: int
    backend: str  # for the start-up line
    log_level: str = "INFO"
    tls: tuple[str, str] | None = None  # certificate and key files: serve HTTPS


def run(config: ServerConfig, build: Callable[[Path], Gateway]) -> None:
    """Serve until SIGTERM or SIGINT; each worker calls `build` once, with the directory
    where the workers' metrics meet (removed when the server stops)."""
    shared = Path(tempfile.mkdtemp(prefix="deltaglider-metrics-"))
    arbiter = os.getpid()
    parser.RequestParser.mesg_class = _S3Request
    try:
        _Server(config, lambda: build(shared)).run()
    finally:
        if os.getpid() == arbiter:  # a worker leaves through here too, when it exits
            shutil.rmtree(shared, ignore_errors=True)


class _S3Request(message.Request):  # type: ignore[misc]
    """gunicorn's request, but an `Expect` other than 100-continue is ignored, as S3
    ignores it (s3-tests: PUT with `Expect: 200` succeeds), where gunicorn answers 417
    with an HTML page no S3 client can read."""

    def _apply_header_policy(self, name: str, value: str, *args: Any, **kwargs: Any) -> Any:
        if name == "EXPECT" and value.strip().lower() != "100-continue":
            return (name, value)
        return super()._apply_header_policy(name, value, *args, **kwargs)


class _Server(BaseApplication):  # type: ignore[misc]  # gunicorn has no type hints
    def __init__(self, config: ServerConfig, build: Callable[[], Gateway]) -> None:
        self.config = config
        self.build = build
        super().__init__()

    def load_config(self) -> None:
        c = self.config
        settings: dict[str, Any] = {
            "bind": [f"{c.host}:{c.port}"],
            "workers": c.workers,
            "worker_class": "gthread",
            "threads": THREADS,
            "timeout": TIMEOUT,
            "graceful_timeout": 30,
            "keepalive": 75,  # past the idle timeout of common load balancers and SDKs
            # A 1,024-byte key percent-encoded is 3,072 characters, before a presigned
            # URL's query: take request lines up to gunicorn's largest.
            "limit_request_line": 8190,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "proc_name": "deltaglider-serve",
            "when_ready": self._ready,
            "post_worker_init": lambda worker: _log_to_stderr(c.log_level),
        }
        if c.tls is not None:
            settings["certfile"], settings["keyfile"] = c.tls
        for name, value in settings.items():
            self.cfg.set(name, value)

    def _ready(self, arbiter: Any) -> None:
        c = self.config
        scheme = "https" if c.tls else "http"
        where = f"{scheme}://{c.host}:{c.port} ({c.backend})"
        print(f"deltaglider serve: {where}, {c.workers} worker(s) of {THREADS} threads",
              file=sys.stderr, flush=True)  # fmt: skip

    def load(self) -> Gateway:
        return self.build()


def _log_to_stderr(level: str) -> None:
    """Access lines and errors on stderr, one a line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    for name in ("deltaglider.gateway", ACCESS_LOGGER):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
