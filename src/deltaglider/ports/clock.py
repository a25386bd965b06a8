"""ClockPort: the current time."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class ClockPort(Protocol):
    """Wall-clock time, injected so tests can fix it."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...
