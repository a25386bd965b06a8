"""MetricsPort: counters and timings for whoever watches the service."""

from __future__ import annotations

from typing import Protocol


class MetricsPort(Protocol):
    """Where the service reports what it did; the default adapter drops everything."""

    def increment(self, name: str, value: int = 1) -> None:
        """Add `value` to the counter `name`."""
        ...

    def timing(self, name: str, seconds: float) -> None:
        """Record one duration of the operation `name`."""
        ...
