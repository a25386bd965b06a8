"""DeltaGlider: versioned artifacts stored in S3 as binary deltas against a reference."""

# The one place the version is written (pyproject.toml reads it from here): asking the
# installed metadata for it would cost every command tens of milliseconds to start.
__version__ = "0.1.0"

__all__ = ["__version__"]
