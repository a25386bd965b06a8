"""Settings from the environment and command-line flags, validated in one place."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from deltaglider.core.errors import ConfigError
from deltaglider.core.policy import DEFAULT_MAX_RATIO

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Settings:
    """Everything the wiring needs to build a DeltaService.

    `endpoint_url` None means AWS S3 as boto3 resolves it; `file_root` is set instead
    when the endpoint is a `file://` URL (the local filesystem backend).
    """

    endpoint_url: str | None = None
    file_root: Path | None = None
    region: str | None = None
    profile: str | None = None
    max_ratio: float = DEFAULT_MAX_RATIO
    log_level: str = "INFO"

    @classmethod
    def load(
        cls,
        env: Mapping[str, str],
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        max_ratio: float | None = None,
    ) -> Settings:
        """Flags win over environment variables; every value is checked here."""
        endpoint = endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
        source = "--endpoint-url" if endpoint_url else "AWS_ENDPOINT_URL"
        file_root = None
        if endpoint:
            endpoint, file_root = _parse_endpoint(endpoint, source)
        ratio = max_ratio if max_ratio is not None else _ratio(env.get("DG_MAX_RATIO"))
        if not 0.0 <= ratio <= 1.0:
            raise ConfigError(f"--max-ratio must be a number from 0 to 1, got {ratio}")
        return cls(
            endpoint_url=None if file_root else endpoint,
            file_root=file_root,
            region=region or None,
            profile=profile or None,
            max_ratio=ratio,
            log_level=_log_level(env.get("DG_LOG_LEVEL")),
        )


def _parse_endpoint(url: str, source: str) -> tuple[str, Path | None]:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return url, None
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise ConfigError(
                f"{source}={url!r}: a file endpoint takes an absolute path, file:///abs/path"
            )
        return url, Path(path)
    raise ConfigError(
        f"{source}={url!r} is not a valid endpoint: use http(s)://host[:port] or file:///abs/path"
    )


def _ratio(raw: str | None) -> float:
    if raw is None or raw == "":
        return DEFAULT_MAX_RATIO
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"DG_MAX_RATIO must be a number from 0 to 1, got {raw!r}")
    return value


def _log_level(raw: str | None) -> str:
    level = (raw or "INFO").strip().upper()
    if level == "WARN":
        level = "WARNING"
    if level not in LOG_LEVELS:
        raise ConfigError(f"DG_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return level
