"""DeltaGlider: versioned artifacts stored in S3 as binary deltas against a reference.

`deltaglider.create_client(...)` is a boto3 S3 client that stores objects as deltas; it
is imported on first use, so the command line, which imports this package first, does
not pay for boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The one place the version is written (pyproject.toml reads it from here): asking the
# installed metadata for it would cost every command tens of milliseconds to start.
__version__ = "0.1.0"

if TYPE_CHECKING:
    from deltaglider.app.client import DeltaGliderClient, PresignedUrlError, create_client

__all__ = ["DeltaGliderClient", "PresignedUrlError", "__version__", "create_client"]
_CLIENT = frozenset({"DeltaGliderClient", "PresignedUrlError", "create_client"})


def __getattr__(name: str) -> Any:
    if name in _CLIENT:
        from deltaglider.app import client  # noqa: PLC0415 (only when asked for)

        return getattr(client, name)
    raise AttributeError(f"module 'deltaglider' has no attribute {name!r}")
