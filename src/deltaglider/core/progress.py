"""How far the running transfer has got, for whoever watches it (the command line's bar).

A transfer makes several passes over its bytes: read and hashed, encoded or decoded,
sent or received, checked. Each pass reports the bytes it went through as it goes, so a
large file's bar moves during the encode as well as during the send. The watcher of the
current thread's transfer is carried by a context variable, so the stores and codecs
report without every call taking a callback; a pass that runs in other threads (boto3's
transfer threads) takes `current()` along.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Watcher = Callable[[int], None]  # called with a number of bytes just gone through

_WATCHER: ContextVar[Watcher | None] = ContextVar("deltaglider_progress", default=None)


def advance(count: int) -> None:
    """`count` more bytes went through the current pass."""
    watcher = _WATCHER.get()
    if watcher is not None:
        watcher(count)


def current() -> Watcher | None:
    """The watcher of this thread's transfer, to hand to work done in other threads."""
    return _WATCHER.get()


@contextmanager
def watched(watcher: Watcher) -> Iterator[None]:
    """Report the passes of what runs in this thread, until the block ends, to `watcher`."""
    token = _WATCHER.set(watcher)
    try:
        yield
    finally:
        _WATCHER.reset(token)
