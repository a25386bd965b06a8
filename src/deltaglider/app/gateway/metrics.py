"""What the gateway has done, for Prometheus (`GET /metrics`), summed over every worker
process: requests by operation and status, their latency, and the logical against the
stored bytes of what was written.

Each worker keeps its counts in memory and writes them, at most once a second, to a
file of its own in a directory the whole server shares; a scrape, which any worker may
answer, adds up every file (a worker that has exited still counts: the totals are the
server's since it started).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

# Latency buckets (seconds): a ListBuckets to the completion of a large upload.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
FLUSH_EVERY = 1.0


class Metrics:
    """One worker's counts, and the sum of all workers' for a scrape."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._counts: dict[str, float] = {}
        self._dirty = False
        self._pid = os.getpid()
        if directory is not None:
            threading.Thread(target=self._flusher, name="metrics", daemon=True).start()

    def request(self, operation: str, status: int, seconds: float) -> None:
        labels = f'operation="{operation}",status="{status}"'
        with self._lock:
            self._add(f"deltaglider_gateway_requests_total{{{labels}}}", 1)
            op = f'operation="{operation}"'
            for bound in BUCKETS:
                if seconds <= bound:
                    self._add(f'deltaglider_gateway_request_seconds_bucket{{{op},le="{bound}"}}', 1)
            self._add(f'deltaglider_gateway_request_seconds_bucket{{{op},le="+Inf"}}', 1)
            self._add(f"deltaglider_gateway_request_seconds_sum{{{op}}}", seconds)
            self._add(f"deltaglider_gateway_request_seconds_count{{{op}}}", 1)

    def stored(self, logical: int, stored: int) -> None:
        """An object written: its own size, and what the store holds for it."""
        with self._lock:
            self._add("deltaglider_gateway_logical_bytes_total", logical)
            self._add("deltaglider_gateway_stored_bytes_total", stored)
            self._add("deltaglider_gateway_objects_stored_total", 1)

    def _add(self, series: str, value: float) -> None:
        self._counts[series] = self._counts.get(series, 0) + value
        self._dirty = True

    def render(self) -> bytes:
        """The Prometheus text exposition of every worker's counts."""
        totals: dict[str, float] = {}
        for counts in self._everyone():
            for series, value in counts.items():
                totals[series] = totals.get(series, 0) + value
        lines = []
        for family, kind, text in _FAMILIES:
            rows = sorted(s for s in totals if s.split("{")[0].startswith(family))
            if rows:
                lines += [f"# HELP {family} {text}", f"# TYPE {family} {kind}"]
                lines += [f"{series} {_number(totals[series])}" for series in rows]
        return ("\n".join(lines) + "\n").encode()

    def _everyone(self) -> Iterable[dict[str, float]]:
        with self._lock:
            own = dict(self._counts)
        yield own
        if self.directory is None:
            return
        for path in self.directory.glob("*.json"):
            if path.stem == str(self._pid):
                continue
            try:
                yield json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # a worker's file being replaced: its counts come next scrape

    def _flusher(self) -> None:
        while True:
            time.sleep(FLUSH_EVERY)
            self.flush()

    def flush(self) -> None:
        assert self.directory is not None
        with self._lock:
            if not self._dirty:
                return
            data = json.dumps(self._counts)
            self._dirty = False
        temp = self.directory / f".{self._pid}.tmp"
        temp.write_text(data)
        temp.replace(self.directory / f"{self._pid}.json")


PREFIX = "deltaglider_gateway_"
_FAMILIES = tuple((PREFIX + name, kind, text) for name, kind, text in (
    ("requests_total", "counter", "S3 requests answered, by operation and status."),
    ("request_seconds", "histogram", "Time from a request to the end of its answer."),
    ("logical_bytes_total", "counter", "Bytes of the objects written (their own size)."),
    ("stored_bytes_total", "counter", "Bytes the store holds for the objects written."),
    ("objects_stored_total", "counter", "Objects written (PUT, copy, completed upload)."),
))  # fmt: skip


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)
