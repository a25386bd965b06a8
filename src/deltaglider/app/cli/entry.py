"""The `deltaglider` program's entry point, kept light: Ctrl-C while the command line is
still being imported ends as cleanly as later on (one line, exit 130, no traceback), and
one that comes while the process is leaving does not cut its clean-up short."""

from __future__ import annotations

import signal
import sys

INTERRUPTED = "\ncancelled: ctrl-c received\n"


def main() -> None:
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
