"""DeltaGlider: versioned artifacts stored in S3 as binary deltas against a reference."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("deltaglider")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
