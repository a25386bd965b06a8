"""The `deltaglider` program's entry point, kept light: Ctrl-C while the command line is
still being imported ends as cleanly as later on (one line, exit 130, no traceback), and
one that comes while the process is leaving does not cut its clean-up short."""

from __future__ import annotations

import _thread
import contextlib
import signal
import sys
from typing import Any

INTERRUPTED = "\ncancelled: ctrl-c received\n"


def main() -> None:
    sys.unraisablehook = interrupt_not_lost
    try:
        from deltaglider.app.cli.main import main as run_command_line  # noqa: PLC0415

        run_command_line()
    except KeyboardInterrupt:  # before the command line could take over
        sys.stderr.write(INTERRUPTED)
        raise SystemExit(130) from None
    finally:
        # The outcome is decided: what follows (atexit: private caches removed) must not
        # be stopped halfway by a late Ctrl-C, which would print a traceback there.
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def interrupt_not_lost(unraisable: Any) -> None:
    """A Ctrl-C that lands in a callback Python cannot raise from (a weak reference's,
    as the import system uses; a finalizer) would be printed as a traceback and then
    forgotten: deliver it again, so that the main thread stops as for any other Ctrl-C.
    From another thread: delivered from this one, it would land in this hook and be lost
    again (while Python shuts down, no thread starts, and nothing is left to stop).
    Other such exceptions are reported as Python reports them."""
    if issubclass(unraisable.exc_type, KeyboardInterrupt):
        with contextlib.suppress(RuntimeError):
            _thread.start_new_thread(_thread.interrupt_main, ())
        return
    sys.__unraisablehook__(unraisable)
