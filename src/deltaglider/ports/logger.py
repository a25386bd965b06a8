"""LoggerPort: diagnostic messages."""

from __future__ import annotations

from typing import Protocol


class LoggerPort(Protocol):
    """The subset of `logging.Logger` the core uses (%-style lazy arguments)."""

    def debug(self, msg: str, *args: object) -> None: ...

    def info(self, msg: str, *args: object) -> None: ...

    def warning(self, msg: str, *args: object) -> None: ...
