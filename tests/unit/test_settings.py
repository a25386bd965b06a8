"""Settings from the environment and flags: every invalid value is one clear error."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from deltaglider.app.settings import Settings
from deltaglider.core.errors import ConfigError


def test_defaults() -> None:
    settings = Settings.load({})
    assert settings == Settings(max_ratio=0.5, log_level="INFO")


def test_file_endpoint_selects_the_filesystem_backend() -> None:
    settings = Settings.load({"AWS_ENDPOINT_URL": "file:///srv/store%20x"})
    assert settings.file_root == Path("/srv/store x")
    assert settings.endpoint_url is None


def test_flags_win_over_environment() -> None:
    settings = Settings.load(
        {"AWS_ENDPOINT_URL": "http://a:1", "DG_MAX_RATIO": "0.2"},
        endpoint_url="https://b:2",
        max_ratio=0.9,
        region="eu-west-1",
    )
    assert (settings.endpoint_url, settings.max_ratio, settings.region) == (
        "https://b:2",
        0.9,
        "eu-west-1",
    )


def test_service_specific_endpoint_variable() -> None:
    assert Settings.load({"AWS_ENDPOINT_URL_S3": "http://s3:9000"}).endpoint_url == "http://s3:9000"


def test_log_level_is_case_insensitive() -> None:
    assert Settings.load({"DG_LOG_LEVEL": "debug"}).log_level == "DEBUG"
    assert Settings.load({"DG_LOG_LEVEL": "warn"}).log_level == "WARNING"


@pytest.mark.parametrize(
    ("env", "flags", "message"),
    [
        ({"DG_MAX_RATIO": "abc"}, {}, "DG_MAX_RATIO must be a number from 0 to 1, got 'abc'"),
        ({"DG_MAX_RATIO": "1.5"}, {}, "DG_MAX_RATIO"),
        ({"DG_MAX_RATIO": "nan"}, {}, "DG_MAX_RATIO"),
        ({}, {"max_ratio": 2.0}, "--max-ratio"),
        ({"DG_LOG_LEVEL": "LOUD"}, {}, "DG_LOG_LEVEL must be one of DEBUG, INFO"),
        ({"AWS_ENDPOINT_URL": "ftp://x"}, {}, "AWS_ENDPOINT_URL='ftp://x' is not a valid endpoint"),
        ({"AWS_ENDPOINT_URL": "file://relative/path"}, {}, "absolute path"),
        ({}, {"endpoint_url": "localhost:9000"}, "--endpoint-url"),
        ({"DG_CACHE_BACKEND": "redis"}, {}, "DG_CACHE_BACKEND must be one of filesystem, memory"),
        ({"DG_CODEC": "bsdiff"}, {}, "DG_CODEC must be one of zstd, xdelta3, got 'bsdiff'"),
        (
            {"DG_REFERENCE_POLICY": "chain"},
            {},
            "DG_REFERENCE_POLICY must be one of adaptive, first",
        ),
        ({"DG_UNWRAP_GZIP": "perhaps"}, {}, "DG_UNWRAP_GZIP must be true or false"),
        ({"DG_REDEFLATE_RATE": "-1"}, {}, "DG_REDEFLATE_RATE must be a number of MB per"),
        ({"DG_REDEFLATE_RATE": "fast"}, {}, "DG_REDEFLATE_RATE must be a number of MB per"),
        ({"DG_CACHE_MEMORY_SIZE_MB": "lots"}, {}, "DG_CACHE_MEMORY_SIZE_MB must be a whole"),
        ({"DG_CACHE_MEMORY_SIZE_MB": "-5"}, {}, "DG_CACHE_MEMORY_SIZE_MB"),
        ({"DG_CACHE_ENCRYPTION": "maybe"}, {}, "DG_CACHE_ENCRYPTION must be true or false"),
        ({"DG_CACHE_ENCRYPTION_KEY": "c2hvcnQ="}, {}, "DG_CACHE_ENCRYPTION_KEY must be 32"),
        ({"DG_CACHE_ENCRYPTION_KEY": "not base64 !!"}, {}, "DG_CACHE_ENCRYPTION_KEY"),
        ({"DG_CACHE_DIR": "/etc/hostname"}, {}, "DG_CACHE_DIR"),
        ({"DG_SEGMENT_MB": "0"}, {}, "DG_SEGMENT_MB must be a whole number of MiB from 1"),
        ({"DG_SEGMENT_MB": "big"}, {}, "DG_SEGMENT_MB"),
    ],
)
def test_invalid_values_name_the_setting(
    env: dict[str, str], flags: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(env, **flags)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_cache_settings() -> None:
    defaults = Settings.load({})
    assert (defaults.cache_backend, defaults.cache_memory_bytes) == ("filesystem", 100 << 20)
    assert defaults.cache_encryption
    assert (defaults.cache_key, defaults.cache_dir) == (None, None)
    key = base64.b64encode(bytes(range(32))).decode()
    chosen = Settings.load(
        {
            "DG_CACHE_BACKEND": "Memory",
            "DG_CACHE_MEMORY_SIZE_MB": "7",
            "DG_CACHE_ENCRYPTION": "false",
            "DG_CACHE_ENCRYPTION_KEY": key,
            "DG_CACHE_DIR": "/var/cache/dg",
        }
    )
    assert (chosen.cache_backend, chosen.cache_memory_bytes) == ("memory", 7 << 20)
    assert not chosen.cache_encryption
    assert chosen.cache_key == base64.urlsafe_b64encode(bytes(range(32)))
    assert chosen.cache_dir == Path("/var/cache/dg")


def test_segment_size() -> None:
    assert Settings.load({}).segment_bytes == 32 << 20
    assert Settings.load({"DG_SEGMENT_MB": "4"}).segment_bytes == 4 << 20
