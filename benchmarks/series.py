"""Real release series through the `deltaglider` command: stored bytes, speed, memory.

    .venv/bin/python benchmarks/series.py [--corpus DIR] [--backend file|moto|both]
        [--series NAME ...] [--compare "DG_MAX_RATIO=0.9 ..." | --baseline] [--rounds N]
        [--also "DG_REFERENCE_POLICY=first"] [--dg6 PATH] [--versions]

For each series (a folder of versions, e.g. from benchmarks/corpus/fetch.sh), uploads
the versions one by one with `deltaglider cp FILE s3://bench/SERIES/`, as a release
pipeline does, then downloads them all with `cp --recursive` and checks every byte.
Prints per series: files, logical and stored bytes, stored/logical, upload and download
MB/s (logical bytes over wall time, process start included) and the peak RSS of the
largest deltaglider process. `--compare` runs a second configuration (environment
variables) side by side, series by series, and prints its figures and the ratios.
`--baseline` compares with the original DeltaGlider's way of storing: `xdelta3 -9`
(through a wrapper put first on PATH), the first file as the only reference, and no
look inside gzip files. `--also` adds a third configuration the same way. `--dg6 PATH`
adds the original DeltaGlider (6.x, installed on its own, e.g. by
benchmarks/dg6/install.sh) run as the `deltaglider` at PATH: each series in a bucket of
its own, one `cp` per version both ways (its recursive `cp` down fails), the files it
cannot give back exactly counted (`exact`). `--rounds N` repeats
everything N times, taking turns, and reports median times. `--versions` prints what
each version took in the store (its delta, or its whole bytes) and the references.
Stored bytes are read from the store itself, whichever version wrote them.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
from moto.server import ThreadedMotoServer

DELTAGLIDER = Path(sys.executable).with_name("deltaglider")
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Config:
    """One way of running: environment variables over the backend's, and the command."""

    env: dict[str, str]
    command: Path = DELTAGLIDER
    quiet: str = "--no-progress"  # the flag that keeps the command's progress display off
    # Each series in a bucket of its own, at its root, and one `cp` down per file:
    # DeltaGlider 6.2.0's `cp` puts files at the bucket's root whatever prefix it is
    # given, and its recursive `cp` down fails on the reference. A file it cannot give
    # back exactly is counted, not fatal.
    legacy: bool = False


@dataclass
class Figures:
    files: int = 0
    logical: int = 0
    stored: int = 0
    upload_seconds: float = 0.0
    download_seconds: float = 0.0
    peak_rss: int = 0  # bytes
    exact: int = 0  # files that came back byte-identical
    per_version: list[str] = field(default_factory=list)  # what each version took
    references: list[int] = field(default_factory=list)

    def row(self) -> str:
        return (
            f"{self.files:>5} {self.logical / 1e6:>9.1f} {self.stored / 1e6:>9.1f} "
            f"{100 * self.stored / self.logical:>7.1f}% "
            f"{self.logical / 1e6 / self.upload_seconds:>8.1f} "
            f"{self.logical / 1e6 / self.download_seconds:>8.1f} {self.peak_rss / 2**20:>7.0f} "
            f"{self.exact:>3}/{self.files}"
        )


HEADER = (
    f"{'files':>5} {'logic MB':>9} {'stored MB':>9} {'stored':>8} "
    f"{'up MB/s':>8} {'down MB/s':>8} {'RSS MB':>7} exact"
)


# Linux records the peak RSS of the memory image a process leaves at exec: a child spawned
# from this process (fork or vfork) reports at least this process's own peak RSS, which
# moto (holding every object) or the build step make large. So each command runs under a
# small launcher interpreter, and the launcher's child, forked from ~10 MB, is measured.
LAUNCHER = """
import os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as report:
    report.write(f"{usage.ru_maxrss} {time.perf_counter() - started}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run(
    args: list[str], env: dict[str, str], command: Path = DELTAGLIDER, *, may_fail: bool = False
) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes) and stdout of one deltaglider command (which must
    succeed, unless `may_fail`)."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as report,
    ):
        launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, report.name, str(command), *args]
        status = subprocess.run(launcher, check=False, env=env, stdout=out, stderr=err)
        code = status.returncode
        if code and not may_fail:
            err.seek(0)
            raise SystemExit(f"deltaglider {' '.join(args)} failed ({code}): {err.read().decode()}")
        maxrss, seconds = report.read().split()
        out.seek(0)
        return float(seconds), int(maxrss) * 1024, out.read().decode()


def versions(folder: Path) -> list[Path]:
    def order(path: Path) -> list[object]:
        return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.name)]

    return sorted(
        (p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")), key=order
    )


def measure(series: Path, config: Config, env: dict[str, str], work: Path) -> Figures:
    figures = Figures()
    bucket, folder = "bench", f"{series.name}-{time.monotonic_ns()}/"
    if config.legacy:
        bucket, folder = f"bench-{time.monotonic_ns()}", ""
        s3_client(env).create_bucket(Bucket=bucket)
    prefix = f"s3://{bucket}/{folder}"
    for path in versions(series):
        seconds, rss, _ = run(["cp", str(path), prefix, config.quiet], env, config.command)
        figures.files += 1
        figures.logical += path.stat().st_size
        figures.upload_seconds += seconds
        figures.peak_rss = max(figures.peak_rss, rss)
    stored = stored_objects(env, bucket, folder)
    figures.stored = sum(stored.values())
    for path in versions(series):
        size = stored.get(path.name + ".delta", stored.get(path.name))
        figures.per_version.append("-" if size is None else human(size))
    figures.references = [size for key, size in stored.items() if key.startswith("reference")]
    down = work / "down"
    shutil.rmtree(down, ignore_errors=True)
    if config.legacy:
        down.mkdir()
        for path in versions(series):
            args = ["cp", prefix + path.name, str(down / path.name), config.quiet]
            seconds, rss, _ = run(args, env, config.command, may_fail=True)
            figures.download_seconds += seconds
            figures.peak_rss = max(figures.peak_rss, rss)
    else:
        args = ["cp", "--recursive", prefix, str(down), config.quiet]
        seconds, rss, _ = run(args, env, config.command)
        figures.download_seconds = seconds
        figures.peak_rss = max(figures.peak_rss, rss)
    for path in versions(series):
        back = down / path.name
        if back.is_file() and back.read_bytes() == path.read_bytes():
            figures.exact += 1
        elif not config.legacy:
            raise SystemExit(f"{path.name} did not come back byte-identical")
    return figures


def s3_client(env: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def stored_objects(env: dict[str, str], bucket: str, folder: str) -> dict[str, int]:
    """What the store holds under `{bucket}/{folder}`: name -> size, as written."""
    endpoint = env["AWS_ENDPOINT_URL"]
    if endpoint.startswith("file://"):
        root = Path(unquote(urlsplit(endpoint).path)) / bucket / folder
        return {
            p.name: p.stat().st_size
            for p in root.iterdir()
            if p.is_file() and not p.name.endswith(".dg-meta.json")
        }
    found: dict[str, int] = {}
    pages = s3_client(env).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder)
    for page in pages:
        for item in page.get("Contents", []):
            found[item["Key"][len(folder) :]] = item["Size"]
    return found


def human(size: int) -> str:
    for unit, scale in (("M", 1e6), ("K", 1e3)):
        if size >= scale:
            return f"{size / scale:.{2 if size < 10 * scale else 1}f}{unit}"
    return f"{size}B"


@contextmanager
def backend(kind: str, work: Path) -> Iterator[dict[str, str]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DG_"))}
    if kind == "file":
        (work / "store" / "bench").mkdir(parents=True, exist_ok=True)
        yield base | {"AWS_ENDPOINT_URL": (work / "store").as_uri()}
        return
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = base | {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    s3_client(env).create_bucket(Bucket="bench")
    try:
        yield env
    finally:
        server.stop()


def env_pairs(text: str | None) -> dict[str, str]:
    """`"K=V K2=V2"` as a dict of environment variables."""
    return dict(x.split("=", 1) for x in shlex.split(text or ""))


BASELINE = "DG_CODEC=xdelta3 DG_REFERENCE_POLICY=first DG_UNWRAP_GZIP=false"


def xdelta3_level_9(work: Path) -> dict[str, str]:
    """PATH with an `xdelta3` first in it that runs the real one with `-9`."""
    real = shutil.which("xdelta3")
    if real is None:
        raise SystemExit("xdelta3 is not installed")
    wrapper = work / "xdelta3-9" / "xdelta3"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(real)} -9 "$@"\n')
    wrapper.chmod(0o755)
    return {"PATH": f"{wrapper.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def median_of(runs: list[Figures]) -> Figures:
    """One series' figures over several rounds: median times, the largest RSS."""
    figures = runs[0]
    figures.upload_seconds = statistics.median(r.upload_seconds for r in runs)
    figures.download_seconds = statistics.median(r.download_seconds for r in runs)
    figures.peak_rss = max(r.peak_rss for r in runs)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / ".cache" / "corpus")
    parser.add_argument("--backend", choices=("file", "moto", "both"), default="file")
    parser.add_argument("--series", nargs="*", help="series folder names (default: all)")
    parser.add_argument("--compare", help='a second configuration, e.g. "DG_MAX_RATIO=0.9"')
    parser.add_argument(
        "--baseline", action="store_true", help=f"compare with {BASELINE} and xdelta3 -9"
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat, report median times")
    parser.add_argument("--also", help='a third configuration, e.g. "DG_REFERENCE_POLICY=first"')
    parser.add_argument("--dg6", type=Path, help="the original DeltaGlider's deltaglider command")
    parser.add_argument("--versions", action="store_true", help="print each version's size")
    options = parser.parse_args()
    if not options.corpus.is_dir():
        subprocess.run([str(ROOT / "benchmarks/corpus/fetch.sh"), str(options.corpus)], check=True)
    names = options.series or sorted(p.name for p in options.corpus.iterdir() if p.is_dir())
    kinds = ("file", "moto") if options.backend == "both" else (options.backend,)
    print(f"command: {' '.join(shlex.quote(a) for a in sys.argv)}")
    with tempfile.TemporaryDirectory(prefix="dg-series-") as scratch:
        work = Path(scratch)
        configs: dict[str, Config] = {"default": Config({})}
        if options.baseline:
            configs["compare"] = Config(env_pairs(BASELINE) | xdelta3_level_9(work))
        elif options.compare:
            configs["compare"] = Config(env_pairs(options.compare))
        if options.also:
            configs["also"] = Config(env_pairs(options.also))
        if options.dg6:
            # Its own interpreter and packages: none of this checkout's on its path.
            quiet = {"PYTHONPATH": "", "DG_SUPPRESS_DEPRECATION": "1"}
            configs["dg6.2.0"] = Config(quiet, options.dg6.absolute(), "--quiet", legacy=True)
        for kind in kinds:
            with backend(kind, work) as env:
                print(f"\nbackend: {kind}")
                print(f"{'series':22} {'config':8} {HEADER}")
                for name in names:
                    runs: dict[str, list[Figures]] = {label: [] for label in configs}
                    for _ in range(options.rounds):  # side by side, taking turns
                        for label, config in configs.items():
                            figures = measure(options.corpus / name, config, env | config.env, work)
                            runs[label].append(figures)
                    results = {label: median_of(figures) for label, figures in runs.items()}
                    for label, figures in results.items():
                        print(f"{name:22} {label:8} {figures.row()}")
                    a = results["default"]
                    for label, b in results.items():
                        if label != "default":
                            print(
                                f"{'':22} {label[:8]:8} / default: stored "
                                f"x{b.stored / a.stored:.2f}, upload time "
                                f"x{b.upload_seconds / a.upload_seconds:.2f}, download time "
                                f"x{b.download_seconds / a.download_seconds:.2f}"
                            )
                    if options.versions:
                        for label, b in results.items():
                            refs = " ".join(human(r) for r in b.references)
                            print(f"{'':22} {label[:8]:8} versions: {' '.join(b.per_version)}"
                                  f"  references: {refs}")  # fmt: skip


if __name__ == "__main__":
    main()
