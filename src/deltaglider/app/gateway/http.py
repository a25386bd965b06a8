"""A request as the gateway sees it (from WSGI's environ) and the response it sends.

Path-style addressing (`/bucket/key`), and virtual-host style (`bucket.DOMAIN/key`)
when the server is given its DOMAIN: the key is the path after the bucket,
percent-decoded as UTF-8 from the raw request line (gunicorn's RAW_URI), so a key's
bytes are exactly the client's, and SigV4's canonical request can be rebuilt from them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlsplit

from deltaglider.app.gateway.errors import S3Error, invalid_argument

CHUNK = 1024 * 1024


@dataclass
class Request:
    """One HTTP request: method, decoded path parts, query, lowercase headers, body."""

    method: str
    raw_path: str  # as sent, percent-encoded
    query_string: str
    query: dict[str, str]  # decoded; the last value of a repeated parameter
    headers: dict[str, str]  # lowercase names
    body: BinaryIO
    remote: str
    request_id: str = field(default_factory=lambda: secrets.token_hex(8).upper())
    host_bucket: str | None = None  # the bucket a virtual-host style Host names
    principal: str | None = None  # the access key the request was signed with
    operation: str = "-"
    stored: tuple[int, int] | None = None  # an object written: (logical, stored) bytes

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any], domain: str | None = None) -> Request:
        """The request; with `domain`, a Host of `BUCKET.DOMAIN[:port]` names the bucket."""
        raw = environ.get("RAW_URI") or _rebuilt_uri(environ)
        parts = urlsplit(raw)
        headers = {
            name[5:].replace("_", "-").lower(): str(value)
            for name, value in environ.items()
            if name.startswith("HTTP_")
        }
        for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(name) not in (None, ""):
                headers[name.replace("_", "-").lower()] = str(environ[name])
        query_string = parts.query if "RAW_URI" in environ else environ.get("QUERY_STRING", "")
        return cls(
            method=str(environ["REQUEST_METHOD"]).upper(),
            raw_path=parts.path or "/",
            query_string=query_string,
            query=dict(parse_qsl(query_string, keep_blank_values=True)),
            headers=headers,
            body=environ["wsgi.input"],
            remote=str(environ.get("REMOTE_ADDR", "-")),
            host_bucket=_host_bucket(headers.get("host", ""), domain),
        )

    @property
    def path(self) -> str:
        """The path, percent-decoded as UTF-8 (invalid UTF-8 is refused)."""
        try:
            return unquote_to_bytes(self.raw_path).decode("utf-8")
        except UnicodeDecodeError:
            raise invalid_argument("The key is not valid UTF-8", "key", self.raw_path) from None

    @property
    def bucket(self) -> str | None:
        if self.host_bucket is not None:
            return self.host_bucket
        first = self.path.lstrip("/").split("/", 1)[0]
        return first or None

    @property
    def key(self) -> str | None:
        if self.host_bucket is not None:
            return self.path[1:] or None
        rest = self.path.lstrip("/").split("/", 1)
        return rest[1] if len(rest) == 2 and rest[1] else None

    @property
    def resource(self) -> str:
        """`/bucket/key`, however the request addressed it."""
        return f"/{self.host_bucket}{self.path}" if self.host_bucket else self.path

    @property
    def bucket_path(self) -> str:
        """The raw path with the bucket in it (SigV2 signs this form)."""
        return f"/{self.host_bucket}{self.raw_path}" if self.host_bucket else self.raw_path

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def content_length(self) -> int | None:
        raw = self.headers.get("content-length")
        if raw is None:
            return None
        if not raw.strip().isdigit():
            raise S3Error("BadRequest", 400, "An error occurred when parsing the HTTP request.")
        return int(raw)


def _host_bucket(host: str, domain: str | None) -> str | None:
    """The bucket a Host of `BUCKET.DOMAIN[:port]` names; None for any other Host."""
    name = host.rsplit(":", 1)[0].lower()
    if domain is None or not name.endswith(f".{domain.lower()}"):
        return None
    return name[: -len(domain) - 1] or None


def _rebuilt_uri(environ: Mapping[str, Any]) -> str:
    """The request's path and query from PATH_INFO (servers without RAW_URI): PEP 3333
    hands it decoded, as latin-1; quoted back so that `path` decodes it once."""
    path = str(environ.get("PATH_INFO", "/")).encode("latin-1")
    query = environ.get("QUERY_STRING", "")
    return quote(path, safe="/") + (f"?{query}" if query else "")


@dataclass
class Response:
    """What the gateway answers; `body` is iterated by the server, then `close` runs."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: Iterable[bytes] = ()
    close: Callable[[], None] | None = None

    @classmethod
    def xml(cls, document: bytes, status: int = 200) -> Response:
        return cls(status, [("Content-Type", "application/xml"),
                            ("Content-Length", str(len(document)))], [document])  # fmt: skip

    @classmethod
    def empty(cls, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
        return cls(status, [*(headers or []), ("Content-Length", "0")], [])

    @property
    def status_line(self) -> str:
        try:
            return f"{self.status} {HTTPStatus(self.status).phrase}"
        except ValueError:
            return f"{self.status} Unknown"

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


def http_date(moment: datetime) -> str:
    """`Tue, 01 Dec 2026 04:36:43 GMT`, as S3's Last-Modified."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def parse_http_date(text: str) -> datetime | None:
    """An HTTP date header's time, None when it does not parse (S3 then ignores it)."""
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
