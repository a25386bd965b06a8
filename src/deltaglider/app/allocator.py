"""glibc's malloc told to keep large buffers, in the processes DeltaGlider owns (the
command line and the gateway it serves; not the Python client, which lives in its
user's process).

Rebuilding a large file allocates tens of megabytes at a time, segment after segment:
zstd's own copy of the stretches a segment reads, its window, the buffers between them.
By default glibc serves each from a fresh mmap, which the kernel hands over one zeroed
page at a time and takes back when it is freed; in a thread, whose arena is capped at
64 MiB, it must. Measured on a 1 GB file: 780,000 page faults, 3.4 s of system time
for 1.8 s of decoding. Served from one heap and kept there for the next segment, the
same buffers cost no faults at all (0.6 s of system time). Peak memory rises by about
30 MB and stays the same at 4 GB as at 1 GB: what is kept is what the next segment
takes again.

A user who tunes malloc (GLIBC_TUNABLES, MALLOC_*) keeps their settings.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1  # mallopt's options (malloc.h)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
KEPT_UP_TO = 256 * 1024 * 1024  # a buffer this large still comes from the heap


def keep_large_buffers() -> bool:
    """Tune glibc's malloc for this process (call before starting threads): one arena,
    buffers up to KEPT_UP_TO from its heap, freed memory kept up to as much. Whether it
    was tuned (not on another libc, nor over a user's own settings)."""
    if platform.libc_ver()[0] != "glibc" or _tuned_by_user():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    settings = ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, KEPT_UP_TO), (M_TRIM_THRESHOLD, KEPT_UP_TO))
    return all(mallopt(option, value) == 1 for option, value in settings)


def _tuned_by_user() -> bool:
    return any(name == "GLIBC_TUNABLES" or name.startswith("MALLOC_") for name in os.environ)
