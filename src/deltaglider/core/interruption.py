"""Stopping on request (Ctrl-C): work in progress stops at the next point where nothing
is half done, and the few steps that must not be cut in two finish first.

The service checks its Interruption between the steps of an upload or a download: once
interrupted, nothing more is stored and nothing more reaches a destination. A write that
takes two steps to be whole (the filesystem store's two renames) runs `uninterruptible`,
and an exiting process `settle`s those before it stops its threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from deltaglider.core.errors import DeltaGliderError

_SECTIONS = threading.Lock()
STOP_WAIT = 1.0  # seconds running transfers get to stop after a stop request


class Interrupted(DeltaGliderError):
    """The operation was stopped on request before it stored or wrote anything more."""

    code = "RequestTimeout"
    status = 400
    message = "Stopped on request"


class Interruption:
    """A stop request shared by the threads working for one command or service."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def interrupt(self) -> None:
        self._event.set()

    @property
    def interrupted(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Interrupted, if a stop was requested."""
        if self._event.is_set():
            raise Interrupted("stopped on request: nothing more stored or written")


@contextmanager
def uninterruptible() -> Iterator[None]:
    """A few steps that must all happen or none: an exiting process waits for them."""
    with _SECTIONS:
        yield


def settle(timeout: float) -> bool:
    """Wait until no uninterruptible section runs, then let none start (the process is
    about to end). True when that happened within `timeout` seconds."""
    return _SECTIONS.acquire(timeout=timeout)
