"""`/health` (the process answers) and `/ready` (the backend answers too).

Readiness does not flap on one backend error: the backend is asked at most every few
seconds, and the gateway reports not ready only after several failures in a row; one
success makes it ready again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

CHECK_EVERY = 5.0  # seconds between backend checks
FAILURES = 3  # failed checks in a row before not ready


class Readiness:
    def __init__(self, probe: Callable[[], object], *, now: Callable[[], float] = time.monotonic,
                 every: float = CHECK_EVERY, failures: int = FAILURES) -> None:  # fmt: skip
        self.probe = probe
        self.now = now
        self.every = every
        self.failures_allowed = failures
        self._lock = threading.Lock()
        self._checked: float | None = None
        self._failures = 0
        self.last_error = ""

    def ready(self) -> bool:
        with self._lock:
            due = self._checked is None or self.now() - self._checked >= self.every
            if due:
                self._checked = self.now()
                try:
                    self.probe()
                except Exception as exc:  # any failure of the backend counts
                    self._failures += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"
                else:
                    self._failures = 0
                    self.last_error = ""
            return self._failures < self.failures_allowed
