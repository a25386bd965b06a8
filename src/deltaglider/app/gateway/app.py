"""The gateway as a WSGI application: authenticate, route, run the handler, answer S3's
way (errors as XML with a request id), and log one access line per request.

One Gateway serves many threads at once; it holds only the service (itself
thread-safe) and the users, so any number of processes and machines can serve the same
backend side by side.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from deltaglider.app.gateway.auth import Authenticator
from deltaglider.app.gateway.context import Context
from deltaglider.app.gateway.errors import S3Error, malformed_xml, no_such_bucket
from deltaglider.app.gateway.health import Readiness
from deltaglider.app.gateway.http import Request, Response
from deltaglider.app.gateway.metrics import Metrics
from deltaglider.app.gateway.routes import route
from deltaglider.app.gateway.xml import XMLError
from deltaglider.core.errors import DeltaGliderError
from deltaglider.core.service import DeltaService

ACCESS_LOGGER = "deltaglider.gateway.access"
READY_PROBE = "deltaglider-ready-probe"
# Objects encoded or rebuilt at once per worker process: with the codec's ~2.2x the
# object in memory each (docs/BENCHMARKS.md), this is what bounds a worker's memory.
HEAVY_AT_ONCE = 2
LOGGER = "deltaglider.gateway"
StartResponse = Callable[..., Any]


class Gateway:
    """A WSGI application serving the S3 API in front of one DeltaService, and the
    unsigned GETs of /health, /ready and /metrics (a bucket of one of those names is
    still reached by signed requests)."""

    def __init__(
        self, service: DeltaService, auth: Authenticator, metrics_dir: Path | None = None,
        domain: str | None = None,
    ) -> None:  # fmt: skip
        self.service = service
        self.auth = auth
        self.domain = domain
        self.metrics = Metrics(metrics_dir)
        self.heavy = threading.BoundedSemaphore(HEAVY_AT_ONCE)
        # Any answer from the backend (this bucket need not exist) means it is reachable.
        self.readiness = Readiness(lambda: service.buckets.bucket_exists(READY_PROBE))
        self.log = logging.getLogger(LOGGER)
        self.access = logging.getLogger(ACCESS_LOGGER)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.monotonic()
        request = Request.from_environ(environ, self.domain)
        response = self._endpoint(request) or self.handle(request)
        headers = [*response.headers, ("x-amz-request-id", request.request_id),
                   ("x-amz-id-2", request.request_id), ("Server", "DeltaGlider")]  # fmt: skip
        start_response(response.status_line, headers)
        body: Iterable[bytes] = () if request.method == "HEAD" else response.body
        return _Logged(body, response, request, started, self)

    def handle(self, request: Request) -> Response:
        """The response to one request; never raises."""
        try:
            signed = self._authenticate(request)
            request.principal = signed.access_key if signed else None
            operation, handler = route(request)
            request.operation = operation
            return handler(Context(self.service, request, signed, self.heavy))
        except S3Error as error:
            return self._error(request, error)
        except XMLError:
            return self._error(request, malformed_xml())
        except DeltaGliderError as error:
            if error.status >= 500:
                self.log.error("%s %s: %s", request.method, request.raw_path, error)
            return self._error(request, S3Error.from_core(error))
        except Exception:
            self.log.error("%s %s failed:\n%s", request.method, request.raw_path,
                           traceback.format_exc())  # fmt: skip
            return self._error(request, S3Error("InternalError", 500,
                               "We encountered an internal error. Please try again."))  # fmt: skip

    def _authenticate(self, request: Request) -> Any:
        try:
            return self.auth.authenticate(request)
        except S3Error as error:
            # S3 tells an anonymous caller that a bucket does not exist before refusing it.
            anonymous = "authorization" not in request.headers
            if error.code == "AccessDenied" and anonymous and request.bucket is not None:
                try:
                    exists = self.service.buckets.bucket_exists(request.bucket)
                except DeltaGliderError:
                    exists = True
                if not exists:
                    raise no_such_bucket(request.bucket) from None
            raise

    def _endpoint(self, request: Request) -> Response | None:
        """The answer to /health, /ready or /metrics; None for any other request."""
        unsigned = "authorization" not in request.headers and not request.query_string
        if request.method != "GET" or not unsigned or request.host_bucket is not None:
            return None
        if request.raw_path == "/health":
            request.operation = "Health"
            return _text(200, b"ok\n")
        if request.raw_path == "/ready":
            request.operation = "Ready"
            if self.readiness.ready():
                return _text(200, b"ready\n")
            return _text(503, f"not ready: {self.readiness.last_error}\n".encode())
        if request.raw_path == "/metrics":
            request.operation = "Metrics"
            return _text(200, self.metrics.render(), "text/plain; version=0.0.4")
        return None

    def _error(self, request: Request, error: S3Error) -> Response:
        if request.method == "HEAD":
            return Response.empty(error.status)
        response = Response.xml(error.to_xml(request.request_id, request.resource), error.status)
        response.headers.append(("x-amz-error-code", error.code))
        return response


class _Logged:
    """The response body, counted; once it has been sent (or abandoned) the access line
    is written and the request counted, with its size and the time it all took."""

    def __init__(
        self, body: Iterable[bytes], response: Response, request: Request, started: float,
        gateway: Gateway,
    ) -> None:  # fmt: skip
        self.body = body
        self.response = response
        self.request = request
        self.started = started
        self.gateway = gateway
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            if self.response.close is not None:
                self.response.close()
        finally:
            r = self.request
            seconds = time.monotonic() - self.started
            query = f"?{_redacted(r.query_string)}" if r.query_string else ""
            self.gateway.access.info(
                '%s %s "%s %s%s" %d %d %.1fms %s %s', r.remote, r.principal or "-", r.method,
                r.raw_path, query, self.response.status, self.sent, 1000 * seconds,
                r.operation, r.request_id,
            )  # fmt: skip
            self.gateway.metrics.request(r.operation, self.response.status, seconds)
            if r.stored is not None:
                self.gateway.metrics.stored(*r.stored)


def _text(status: int, body: bytes, kind: str = "text/plain") -> Response:
    return Response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))], [body])


def _redacted(query: str) -> str:
    """A query string fit for a log: a presigned URL's signature left out."""
    return "&".join(
        "X-Amz-Signature=-" if part.startswith("X-Amz-Signature=") else part
        for part in query.split("&")
    )
