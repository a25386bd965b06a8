"""Settings from the environment and command-line flags, validated in one place."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from deltaglider.adapters.s3_requests import PLAIN, RequestOptions
from deltaglider.core.budget import DEFAULT_MAX_MEMORY_MB
from deltaglider.core.errors import ConfigError
from deltaglider.core.policy import DEFAULT_MAX_RATIO, REFERENCE_POLICIES

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
CACHE_BACKENDS = ("filesystem", "memory")
CODECS = ("zstd", "xdelta3")  # for new deltas; both always decode (docs/BENCHMARKS.md: why zstd)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


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
    codec: str = "zstd"
    references: str = "adaptive"
    unwrap_gzip: bool = True
    redeflate_rate: float = 1.0  # MB a changed stream's content delta saves per second
    log_level: str = "INFO"
    cache_backend: str = "filesystem"
    cache_memory_bytes: int = 100 * 1024 * 1024
    # What parallel transfers may hold together (core/budget.py): each reserves its
    # estimated peak before it starts; one above the budget runs alone.
    max_memory_bytes: int = DEFAULT_MAX_MEMORY_MB * 1024 * 1024
    cache_encryption: bool = True
    cache_key: bytes | None = None  # None: an ephemeral key per process
    cache_dir: Path | None = None  # None: a private directory removed on exit
    segment_bytes: int = 32 * 1024 * 1024  # zstd-segmented deltas' segment (DG_SEGMENT_MB)
    requests: RequestOptions = PLAIN  # what every S3 request carries

    @classmethod
    def load(
        cls,
        env: Mapping[str, str],
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        max_ratio: float | None = None,
        requests: RequestOptions = PLAIN,
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
        if file_root is not None and requests.write_flags():
            raise ConfigError(
                f"{', '.join(requests.write_flags())}: a local store (file://) keeps files "
                "as they are, with no ACLs, encryption or storage classes"
            )
        return cls(
            endpoint_url=None if file_root else endpoint,
            file_root=file_root,
            region=region or None,
            profile=profile or None,
            max_ratio=ratio,
            codec=_choice(env, "DG_CODEC", CODECS, "zstd"),
            references=_choice(env, "DG_REFERENCE_POLICY", REFERENCE_POLICIES, "adaptive"),
            unwrap_gzip=_flag(env, "DG_UNWRAP_GZIP", default=True),
            redeflate_rate=_rate(env.get("DG_REDEFLATE_RATE")),
            log_level=_log_level(env.get("DG_LOG_LEVEL")),
            cache_backend=_choice(env, "DG_CACHE_BACKEND", CACHE_BACKENDS, "filesystem"),
            cache_memory_bytes=_megabytes(env.get("DG_CACHE_MEMORY_SIZE_MB")),
            max_memory_bytes=_megabytes(
                env.get("DG_MAX_MEMORY_MB"), "DG_MAX_MEMORY_MB", DEFAULT_MAX_MEMORY_MB
            ),
            cache_encryption=_flag(env, "DG_CACHE_ENCRYPTION", default=True),
            cache_key=_cache_key(env.get("DG_CACHE_ENCRYPTION_KEY")),
            cache_dir=_directory(env.get("DG_CACHE_DIR")),
            segment_bytes=_mebibytes(env, "DG_SEGMENT_MB", 32),
            requests=requests,
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


def _rate(raw: str | None) -> float:
    if raw is None or raw == "":
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 <= value < math.inf:
        raise ConfigError(f"DG_REDEFLATE_RATE must be a number of MB per second, got {raw!r}")
    return value


def _log_level(raw: str | None) -> str:
    level = (raw or "INFO").strip().upper()
    if level == "WARN":
        level = "WARNING"
    if level not in LOG_LEVELS:
        raise ConfigError(f"DG_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return level


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {env.get(name)!r}")
    return value


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false (1/0, yes/no, on/off), got {raw!r}")


def _megabytes(raw: str | None, name: str = "DG_CACHE_MEMORY_SIZE_MB", default: int = 100) -> int:
    if raw is None or raw == "":
        return default * 1024 * 1024
    if not raw.strip().isdigit() or (name == "DG_MAX_MEMORY_MB" and int(raw) == 0):
        raise ConfigError(f"{name} must be a whole number of MiB, got {raw!r}")
    return int(raw) * 1024 * 1024


def _mebibytes(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ConfigError(f"{name} must be a whole number of MiB from 1, got {raw!r}")
    return int(raw) * 1024 * 1024


def _cache_key(raw: str | None) -> bytes | None:
    """A 32-byte key given in base64 (standard or URL-safe), returned URL-safe."""
    if raw is None or raw == "":
        return None
    text = raw.strip()
    try:
        key = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigError(
            "DG_CACHE_ENCRYPTION_KEY must be 32 random bytes in base64 "
            "(e.g. the output of: openssl rand -base64 32)"
        )
    return base64.urlsafe_b64encode(key)


def _directory(raw: str | None) -> Path | None:
    if raw is None or raw == "":
        return None
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"DG_CACHE_DIR={raw!r} is not a directory")
    return path
