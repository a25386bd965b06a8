"""Recursive download of a release series with each reference-cache setting, side by side.

    .venv/bin/python benchmarks/cache_modes.py [--versions 20] [--size-mb 10] [--rounds 5]

Uploads VERSIONS builds (zips of SIZE-MB that differ a little) to a local file:// store,
then times `deltaglider cp --recursive` of the whole prefix with the filesystem cache,
the memory cache, and each without encryption, taking turns round by round so that
machine noise hits every setting alike. Prints the median time and throughput per
setting and the ratio to the default (filesystem, encrypted).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

DELTAGLIDER = Path(sys.executable).with_name("deltaglider")
SETTINGS = {
    "filesystem, encrypted (default)": {},
    "memory, encrypted": {"DG_CACHE_BACKEND": "memory"},
    "filesystem, no encryption": {"DG_CACHE_ENCRYPTION": "false"},
    "memory, no encryption": {"DG_CACHE_BACKEND": "memory", "DG_CACHE_ENCRYPTION": "false"},
}


def build(path: Path, version: int, size: int) -> None:
    """A zip of 1 MiB members; each version rewrites a few KiB in two of them."""
    rng = random.Random(7)
    members = [rng.randbytes(1 << 20) for _ in range(max(1, size >> 20))]
    edit = random.Random(version)
    for index in edit.sample(range(len(members)), min(2, len(members))):
        start = edit.randrange(0, len(members[index]) - 4096)
        body = bytearray(members[index])
        body[start : start + 4096] = edit.randbytes(4096)
        members[index] = bytes(body)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index, body in enumerate(members):
            archive.writestr(
                zipfile.ZipInfo(f"lib/part{index:03d}.bin", (2026, 1, 1, 0, 0, 0)), body
            )
        archive.writestr(zipfile.ZipInfo("VERSION", (2026, 1, 1, 0, 0, 0)), str(version))
    path.write_bytes(buffer.getvalue())


def run(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(DELTAGLIDER), *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--size-mb", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dg-bench-"))
    try:
        builds, store = work / "builds", work / "store"
        builds.mkdir()
        (store / "bench").mkdir(parents=True)
        for version in range(options.versions):
            build(builds / f"app-{version:03d}.zip", version, options.size_mb << 20)
        logical = sum(p.stat().st_size for p in builds.iterdir())
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DG_"))}
        base["AWS_ENDPOINT_URL"] = store.as_uri()
        upload = run(["cp", "--recursive", str(builds), "s3://bench/app/", "--no-progress"], base)
        stored = sum(
            p.stat().st_size for p in store.rglob("*") if p.is_file() and not p.name.startswith(".")
        )
        print(
            f"{options.versions} versions, {logical / 1e6:.1f} MB logical, "
            f"{stored / 1e6:.1f} MB stored; upload {upload:.2f} s"
        )
        times: dict[str, list[float]] = {name: [] for name in SETTINGS}
        for _ in range(options.rounds):
            for name, extra in SETTINGS.items():
                down = work / "down"
                shutil.rmtree(down, ignore_errors=True)
                times[name].append(
                    run(
                        ["cp", "--recursive", "s3://bench/app/", str(down), "--no-progress"],
                        base | extra,
                    )
                )
        default = statistics.median(times["filesystem, encrypted (default)"])
        print(f"recursive download, median of {options.rounds} rounds, taking turns:")
        for name, values in times.items():
            median = statistics.median(values)
            print(
                f"  {name:32} {median:6.2f} s  {logical / median / 1e6:7.1f} MB/s  "
                f"x{median / default:.2f} of default"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
