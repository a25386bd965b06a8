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
the ratio of ours to aws's best. aws runs twice: as installed (parts side by side, ranged
GETs), and on moto also as `aws1`, with one request per object (`multipart_threshold`
above the file: moto copies the whole object for every ranged GET, so there one GET is
aws's best).
Every download is compared with its original. `--backend env`
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
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


@dataclass(frozen=True)
class Artifacts:
    old: Path
    new: Path
    new_sha256: str


def build(megabytes: int, folder: Path) -> Artifacts:
    """The two versions of benchmarks/memory.py, written out (`cp FILE` as users run it)."""
    folder.mkdir(parents=True, exist_ok=True)
    size = megabytes * 10**6
    paths = {"app-1.0.bin": memory.old_version(size), "app-1.1.bin": memory.new_version(size)}
    digests = []
    for name, pieces in paths.items():
        found = hashlib.sha256()
        with (folder / name).open("wb") as out:
            for chunk in memory.stream(pieces):
                found.update(chunk)
                out.write(chunk)
        digests.append(found.hexdigest())
    return Artifacts(folder / "app-1.0.bin", folder / "app-1.1.bin", digests[1])


def command(label: str, args: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Seconds and peak RSS of one `deltaglider` (or `aws s3`) command."""
    if label.startswith("aws"):
        seconds, rss, _ = series.run(["s3", *args, "--no-progress"], env, AWS)
    else:
        seconds, rss, _ = series.run([*args, "--no-progress"], env)
    return seconds, rss


def one_round(
    configs: dict[str, dict[str, str]], art: Artifacts, sdists: list[Path], work: Path
) -> dict[str, dict[str, tuple[float, int]]]:
    """Every step once, each step run by every configuration in turn (so that a burst of
    load on the machine falls on all of them alike), each in a fresh prefix; checks
    every download."""
    stamp = time.monotonic_ns()
    prefix = {label: f"s3://bench/{label}-{stamp}/" for label in configs}
    out = {label: work / f"out-{label}" for label in configs}
    found: dict[str, dict[str, tuple[float, int]]] = {label: {} for label in configs}

    def each(step: str, arguments: Callable[[str], list[str]]) -> None:
        for label, env in configs.items():
            found[label][step] = command(label, arguments(label), env)

    def remove_all() -> None:  # a server holding its objects in memory (Ceph's memstore) fills
        for label, env in configs.items():
            remove = ["rm", "--recursive", prefix[label], "--quiet"]
            if label.startswith("aws"):
                series.run(["s3", *remove], env, AWS)
            else:
                series.run(remove, env)

    def check(name: str, path: Callable[[str], Path], sha256: str) -> None:
        for label in configs:
            if digest(path(label)) != sha256:
                raise SystemExit(f"{label}: {name} did not come back byte-identical")
            path(label).unlink()

    for folder in out.values():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    each("up 1GB", lambda lb: ["cp", str(art.old), prefix[lb]])
    each("down 1GB", lambda lb: ["cp", prefix[lb] + art.old.name, str(out[lb] / "a")])
    check(art.old.name, lambda lb: out[lb] / "a", digest(art.old))
    each("up 1GB v2", lambda lb: ["cp", str(art.new), prefix[lb]])
    each("down 1GB v2", lambda lb: ["cp", prefix[lb] + art.new.name, str(out[lb] / "b")])
    check(art.new.name, lambda lb: out[lb] / "b", art.new_sha256)
    remove_all()
    for path in sdists[:-1]:
        each("-", partial(lambda p, lb: ["cp", str(p), prefix[lb] + "sdists/"], path))
    each("up sdist", lambda lb: ["cp", str(sdists[-1]), prefix[lb] + "sdists/"])
    each(
        "down sdists", lambda lb: ["cp", "--recursive", prefix[lb] + "sdists/", str(out[lb] / "s")]
    )
    for label in configs:
        for path in sdists:
            if (out[label] / "s" / path.name).read_bytes() != path.read_bytes():
                raise SystemExit(f"{label}: {path.name} did not come back byte-identical")
        shutil.rmtree(out[label])
    remove_all()
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
    if options.work:
        options.work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dg-throughput-", dir=options.work) as scratch:
        work = Path(scratch)
        art = build(options.size, work / "data")
        for kind in kinds:
            with server(kind, work) as env:
                configs = {"ours": env}
                if options.compare:
                    configs["compare"] = env | series.env_pairs(options.compare)
                if kind != "file":
                    configs["aws"] = env
                if kind == "moto":  # every ranged GET copies the whole object there
                    single = work / "aws-single-request.cfg"
                    single.write_text("[default]\ns3 =\n  multipart_threshold = 100GB\n")
                    configs["aws1"] = env | {"AWS_CONFIG_FILE": str(single)}
                runs: dict[str, list[dict[str, tuple[float, int]]]] = {c: [] for c in configs}
                for _ in range(options.rounds):
                    for label, found in one_round(configs, art, sdists, work).items():
                        runs[label].append(found)
                report(kind, runs)


def report(kind: str, runs: dict[str, list[dict[str, tuple[float, int]]]]) -> None:
    labels = list(runs)
    ours = [label for label in labels if not label.startswith("aws")]
    print(f"\nbackend: {kind} (median seconds / peak RSS MB)")
    head = "".join(f" {label:>16}" for label in labels)
    ratios = "".join(f" {label + '/aws':>12}" for label in ours) if "aws" in runs else ""
    vs_compare = " ours/compare" if "compare" in runs else ""
    print(f"{'step':12}{head}{ratios}{vs_compare}")
    for step in STEPS:
        seconds = {
            label: statistics.median(r[step][0] for r in found) for label, found in runs.items()
        }
        rss = {label: max(r[step][1] for r in found) for label, found in runs.items()}
        cells = "".join(f" {seconds[lb]:>7.2f}s {rss[lb] / 1e6:>6.0f}M" for lb in labels)
        if "aws" in runs:
            best = min(seconds[lb] for lb in labels if lb.startswith("aws"))
            cells += "".join(f" {seconds[lb] / best:>11.2f}x" for lb in ours)
        if "compare" in runs:
            cells += f" {seconds['ours'] / seconds['compare']:>11.2f}x"
        print(f"{step:12}{cells}", flush=True)


if __name__ == "__main__":
    main()
