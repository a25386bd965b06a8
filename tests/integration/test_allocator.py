"""glibc's malloc, tuned by the command line's process (app/allocator.py): large buffers
freed by a thread are served again from the heap, not mapped afresh one zeroed page at
a time. Each case runs in a process of its own (the tuning is process-wide), on the
real glibc, and counts the page faults of the process."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")

BUFFER = 64 * 1024 * 1024  # as large as a segment's prefix and window
ROUNDS = 4

CHURN = f"""
import resource, sys, threading
from deltaglider.app.allocator import keep_large_buffers

print(keep_large_buffers() if sys.argv[1] == "tuned" else False)
faults = []

def churn():  # in a thread, as the segment decoders run
    buffer = bytearray({BUFFER}); del buffer
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range({ROUNDS}):
        buffer = bytearray({BUFFER})  # every page written (zeroed)
        del buffer
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)

worker = threading.Thread(target=churn)
worker.start()
worker.join()
print(faults[0])
"""


def _churn(mode: str, **env: str) -> tuple[str, int]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name != "GLIBC_TUNABLES" and not name.startswith("MALLOC_")
    }
    done = subprocess.run(
        [sys.executable, "-c", CHURN, mode],
        env=environment | env,
        capture_output=True,
        text=True,
        check=True,
    )
    tuned, faults = done.stdout.split()
    return tuned, int(faults)


def test_a_tuned_process_reuses_large_buffers_without_faulting_their_pages_again() -> None:
    pages = ROUNDS * BUFFER // os.sysconf("SC_PAGE_SIZE")
    tuned, faults = _churn("tuned")
    assert tuned == "True"
    assert faults < pages // 20
    # The default, for contrast: every large buffer is a fresh mapping, every page faults.
    untuned, default_faults = _churn("default")
    assert untuned == "False"
    assert default_faults > pages * 9 // 10


def test_a_users_own_malloc_settings_are_kept() -> None:
    pages = ROUNDS * BUFFER // os.sysconf("SC_PAGE_SIZE")
    for setting in ({"MALLOC_ARENA_MAX": "4"}, {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}):
        tuned, faults = _churn("tuned", **setting)
        assert tuned == "False"
        assert faults > pages * 9 // 10  # untouched: still fresh mappings
