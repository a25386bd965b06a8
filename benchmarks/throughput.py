"""Throughput next to `aws s3 cp`, on the same machine and server, side by side in one run.

    .venv/bin/python benchmarks/throughput.py [--size 1000] [--backend file|moto|both|env]
        [--compare "PYTHONPATH=/tmp/base/src"] [--sdists DIR] [--rounds N] [--work DIR]

Builds a 1 GB (`--size` MB, 10**6 bytes) artifact and its next version (benchmarks/memory.py:
about 1% changed, a few KB inserted near the start), then, per backend, for each
configuration (ours; `--compare`'s, e.g. the parent commit's sources; and `aws s3`):

  up 1GB        `cp app-1.0.bin s3://bench/P/`  (a first upload: the reference)
  down 1GB      `cp s3://bench/P/app-1.0.bin OUT`
  up 1GB v2     `cp app-1.1.bin s3://bench/P/`  (the second version: a delta)
  down 1GB v2   `cp s3://bench/P/app-1.1.bin OUT`
  up sdist      the newest sdist of the series, uploaded after all the others
  down sdists   `cp --recursive s3://bench/P/sdists/ OUT/`

Each row: wall seconds (process start included) and peak RSS of each configuration, and
the ratio of ours to aws's. Every download is compared with its original. `--backend env`
takes the server from AWS_ENDPOINT_URL and the credentials in the environment (a Ceph
RGW from scripts/ceph-rgw.sh, bucket `bench` made if missing); `aws` runs only against
an S3 server (not file://). `--rounds N` takes the median of N runs of every step.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import memory  # the sibling benchmarks: artifacts, the launcher measuring peak RSS
import series

AWS = Path(sys.executable).with_name("aws")
CORPUS = Path(os.environ.get("DG_TEST_CORPUS", "/work/main/.cache/corpus"))
STEPS = ("up 1GB", "down 1GB", "up 1GB v2", "down 1GB v2", "up sdist", "down sdists")


def digest(path: Path) -> str:
    found = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 22):
            found.update(block)
    return found.hexdigest()


def command(label: str, args: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Seconds and peak RSS of one `deltaglider` (or `aws s3`) command."""
    if label == "aws":
        seconds, rss, _ = series.run(["s3", *args, "--no-progress"], env, AWS)
    else:
        seconds, rss, _ = series.run([*args, "--no-progress"], env)
    return seconds, rss


def one_round(
    label: str, env: dict[str, str], art: memory.Artifacts, sdists: list[Path], work: Path
) -> dict[str, tuple[float, int]]:
    """Every step once for one configuration, in a fresh prefix; checks what comes back."""
    prefix = f"s3://bench/{label}-{time.monotonic_ns()}/"
    out = work / f"out-{label}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    found: dict[str, tuple[float, int]] = {}
    found["up 1GB"] = command(label, ["cp", str(art.old), prefix], env)
    found["down 1GB"] = command(label, ["cp", prefix + art.old.name, str(out / "a")], env)
    if digest(out / "a") != digest(art.old):
        raise SystemExit(f"{label}: {art.old.name} did not come back byte-identical")
    (out / "a").unlink()
    found["up 1GB v2"] = command(label, ["cp", str(art.new), prefix], env)
    found["down 1GB v2"] = command(label, ["cp", prefix + art.new.name, str(out / "b")], env)
    if digest(out / "b") != art.new_sha256:
        raise SystemExit(f"{label}: {art.new.name} did not come back byte-identical")
    (out / "b").unlink()
    for path in sdists[:-1]:
        command(label, ["cp", str(path), prefix + "sdists/"], env)
    found["up sdist"] = command(label, ["cp", str(sdists[-1]), prefix + "sdists/"], env)
    found["down sdists"] = command(
        label, ["cp", "--recursive", prefix + "sdists/", str(out / "s")], env
    )
    for path in sdists:
        if (out / "s" / path.name).read_bytes() != path.read_bytes():
            raise SystemExit(f"{label}: {path.name} did not come back byte-identical")
    shutil.rmtree(out)
    remove = ["rm", "--recursive", prefix, "--quiet"]
    if label == "aws":
        series.run(["s3", *remove], env, AWS)
    else:
        series.run(remove, env)
    return found


@contextlib.contextmanager
def server(kind: str, work: Path) -> Iterator[dict[str, str]]:
    if kind != "env":
        with series.backend(kind, work) as env:
            yield env
        return
    env = dict(os.environ)
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    quiet = Config(request_checksum_calculation="when_required")
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], config=quiet)
    with contextlib.suppress(Exception):  # already there
        client.create_bucket(Bucket="bench")
    yield env


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="MB of the large artifact")
    parser.add_argument("--backend", choices=("file", "moto", "both", "env"), default="moto")
    parser.add_argument("--compare", help='a second configuration, e.g. "PYTHONPATH=/tmp/b/src"')
    parser.add_argument("--sdists", type=Path, default=CORPUS / "setuptools-sdists")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--work", type=Path, help="scratch parent folder (default: /tmp)")
    options = parser.parse_args()
    print(f"command: {' '.join(shlex.quote(a) for a in sys.argv)}")
    kinds = ("file", "moto") if options.backend == "both" else (options.backend,)
    sdists = series.versions(options.sdists)
    megabytes = sum(p.stat().st_size for p in sdists) / 2**20
    print(f"sdists: {len(sdists)} files, {megabytes:.1f} MiB, from {options.sdists}")
    with tempfile.TemporaryDirectory(prefix="dg-throughput-", dir=options.work) as scratch:
        work = Path(scratch)
        art = memory.build(options.size, work / "data")
        for kind in kinds:
            with server(kind, work) as env:
                configs = {"ours": env}
                if options.compare:
                    configs["compare"] = env | series.env_pairs(options.compare)
                if kind != "file":
                    configs["aws"] = env
                runs: dict[str, list[dict[str, tuple[float, int]]]] = {c: [] for c in configs}
                for _ in range(options.rounds):
                    for label, config_env in configs.items():
                        runs[label].append(one_round(label, config_env, art, sdists, work))
                report(kind, runs)


def report(kind: str, runs: dict[str, list[dict[str, tuple[float, int]]]]) -> None:
    labels = list(runs)
    print(f"\nbackend: {kind} (median seconds / peak RSS MB)")
    head = "".join(f" {label:>16}" for label in labels)
    ratios = "".join(f" {label + '/aws':>12}" for label in labels if label != "aws")
    vs_compare = " ours/compare" if "compare" in runs else ""
    print(f"{'step':12}{head}{ratios if 'aws' in runs else ''}{vs_compare}")
    for step in STEPS:
        seconds = {
            label: statistics.median(r[step][0] for r in found) for label, found in runs.items()
        }
        rss = {label: max(r[step][1] for r in found) for label, found in runs.items()}
        cells = "".join(f" {seconds[lb]:>7.2f}s {rss[lb] / 1e6:>6.0f}M" for lb in labels)
        if "aws" in runs:
            cells += "".join(
                f" {seconds[lb] / seconds['aws']:>11.2f}x" for lb in labels if lb != "aws"
            )
        if "compare" in runs:
            cells += f" {seconds['ours'] / seconds['compare']:>11.2f}x"
        print(f"{step:12}{cells}", flush=True)


if __name__ == "__main__":
    main()
