"""DiffPort over the `xdelta3` program (VCDIFF, as DeltaGlider 6.x wrote)."""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

from deltaglider.core import scratch
from deltaglider.core.errors import DiffError, DiffToolMissing

INSTALL_HINT = "install it with `apt-get install xdelta3` (Debian/Ubuntu) or `brew install xdelta`"
# xdelta3 only matches against this much of the source at once; a window as large as
# the reference (up to a cap on memory) lets a 100 MB reference be used whole.
DEFAULT_SOURCE_WINDOW = 64 * 1024 * 1024
MAX_SOURCE_WINDOW = 1024 * 1024 * 1024


class Xdelta3Codec:
    """Runs `xdelta3` as a subprocess.

    `-D` and `-R` turn off xdelta3's external (de)compression: by default it gunzips
    gzip inputs itself and re-gzips on decode, which does not give the original bytes
    back. The XDELTA environment variable (extra arguments) is not passed on.
    """

    codec = "xdelta3"

    def __init__(self, program: str = "xdelta3") -> None:
        self._program = program
        self._checked: str | None = None
        self._lock = threading.Lock()

    def encode(self, source: Path, target: Path, delta: Path) -> None:
        window = min(max(DEFAULT_SOURCE_WINDOW, _size(source)), MAX_SOURCE_WINDOW)
        self._run("-e", "-f", "-D", "-B", str(window), "-s", str(source), str(target), str(delta))

    def decode(self, source: Path, delta: Path, target: Path) -> None:
        window = min(max(DEFAULT_SOURCE_WINDOW, _size(source)), MAX_SOURCE_WINDOW)
        self._run(
            "-d", "-f", "-D", "-R", "-B", str(window), "-s", str(source), str(delta), str(target)
        )

    def version(self) -> str:
        """The installed xdelta3's version, e.g. "3.0.11"; DiffToolMissing if unusable."""
        with self._lock:
            if self._checked is None:
                self._checked = self._probe()
            return self._checked

    def _probe(self) -> str:
        import subprocess  # noqa: PLC0415 (a command that only lists starts without it)

        path = shutil.which(self._program)
        if path is None:
            raise DiffToolMissing(f"xdelta3 not found: {INSTALL_HINT}")
        try:
            done = subprocess.run(
                [path, "-V"],
                check=False,
                capture_output=True,
                text=True,
                timeout=30,
                env=_clean_env(),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DiffToolMissing(f"xdelta3 at {path} cannot run ({exc}): {INSTALL_HINT}") from None
        found = re.search(r"Xdelta version (\d+)\.(\d+)\.(\d+)", done.stdout + done.stderr)
        if found is None or found.group(1) != "3":
            raise DiffToolMissing(f"{path} is not a usable xdelta3 3.x: {INSTALL_HINT}")
        return ".".join(found.groups())

    def _run(self, *args: str) -> None:
        import subprocess  # noqa: PLC0415 (see _probe)

        self.version()
        try:
            child = subprocess.Popen(
                [self._program, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=_clean_env(),
            )
        except OSError as exc:
            raise DiffToolMissing(f"xdelta3 cannot run ({exc}): {INSTALL_HINT}") from None
        with child:
            scratch.track_child(child)  # killed if the process leaves (Ctrl-C) meanwhile
            try:
                _, stderr = child.communicate()
            finally:
                scratch.untrack_child(child)
        if child.returncode != 0:  # the first line names the cause; later ones are advice
            lines = [line.removeprefix("xdelta3: ") for line in stderr.splitlines()]
            detail = next((line for line in lines if line.strip()), f"exit {child.returncode}")
            raise DiffError(f"xdelta3 {args[0]} failed: {detail}")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "XDELTA"}
