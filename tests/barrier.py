"""Command lines started in separate processes that all begin at one moment.

Each process imports DeltaGlider first, then waits for a file to appear (the barrier),
then runs its command line: what races is the commands, not Python's start-up.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

_AT_THE_BARRIER = """
import sys, time
from pathlib import Path
go = Path(sys.argv[1])
from deltaglider.app.cli.main import run
while not go.exists():
    time.sleep(0.001)
sys.exit(run(sys.argv[2:]))
"""


def run_at_once(
    commands: Sequence[Sequence[str]], env: dict[str, str], work: Path, timeout: float = 300
) -> list[subprocess.CompletedProcess[str]]:
    """Run `deltaglider` command lines side by side, released together; their results."""
    go = work / f"go-{time.monotonic_ns()}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _AT_THE_BARRIER, str(go), *command],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    time.sleep(1.5)  # every process has imported DeltaGlider and waits at the barrier
    go.touch()
    results = []
    for command, process in zip(commands, processes, strict=True):
        out, err = process.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(list(command), process.returncode, out, err))
    return results
