"""MetricsPort adapters."""

from __future__ import annotations


class NoopMetrics:
    """Drops every metric: the default when nobody collects them."""

    def increment(self, name: str, value: int = 1) -> None:
        return None

    def timing(self, name: str, seconds: float) -> None:
        return None
