"""Start-up and single-file times of `deltaglider` beside `aws s3`, side by side in one run.

    .venv/bin/python benchmarks/startup.py [--rounds 10] [--file PATH]

Times, wall clock and process start included, medians of `--rounds` runs taken in
turns (the machine is shared and noisy): `python3 -c pass` (the floor), `--help`, `ls`
of a file:// store (deltaglider only: aws has none) and of a moto bucket, and `cp` of one
file up and down through moto (a wheel of the corpus by default). Prints each median and
deltaglider's ratio to aws, and the goals of issue 15: `--help` and a local `ls` within
1.5 x python + 60 ms; a `cp` within 1.2 x aws.
"""

from __future__ import annotations

import argparse
import compileall
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
DG = [str(BIN / "deltaglider")]
AWS = [str(BIN / "aws"), "s3"]


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - started


def default_file() -> Path:
    wheels = sorted((ROOT / ".cache" / "corpus" / "pip-wheels").glob("*.whl"))
    if not wheels:
        raise SystemExit("no corpus: run benchmarks/corpus/fetch.sh .cache/corpus, or --file")
    return wheels[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--file", type=Path)
    options = parser.parse_args()
    artifact = (options.file or default_file()).resolve()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # As installed by pip, both tools start from byte-compiled modules: compile ours (an
    # editable install has none) and let neither run without them.
    compileall.compile_dir(ROOT / "src", quiet=1)
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "DG_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    s3_env = base | {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip
    for bucket in ("bench-aws", "bench-dg"):
        client.create_bucket(Bucket=bucket)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "store" / "local").mkdir(parents=True)
        local_env = base | {"AWS_ENDPOINT_URL": (work / "store").as_uri()}
        cases: dict[str, dict[str, tuple[list[str], dict[str, str]]]] = {
            "python -c pass": {"floor": ([sys.executable, "-c", "pass"], base)},
            "--help": {"aws": ([*AWS, "--help"], s3_env), "deltaglider": ([*DG, "--help"], s3_env)},
            "ls (file://)": {"deltaglider": ([*DG, "ls", "s3://local/"], local_env)},
            "ls (moto)": {
                "aws": ([*AWS, "ls", "s3://bench-aws/"], s3_env),
                "deltaglider": ([*DG, "ls", "s3://bench-dg/"], s3_env),
            },
            "cp up (moto)": {
                "aws": ([*AWS, "cp", str(artifact), "s3://bench-aws/w/", "--no-progress"], s3_env),
                "deltaglider": (
                    [*DG, "cp", str(artifact), "s3://bench-dg/w/", "--no-progress"],
                    s3_env,
                ),
            },
            "cp down (moto)": {
                "aws": (
                    [*AWS, "cp", f"s3://bench-aws/w/{artifact.name}", "down-aws", "--no-progress"],
                    s3_env,
                ),
                "deltaglider": (
                    [*DG, "cp", f"s3://bench-dg/w/{artifact.name}", "down-dg", "--no-progress"],
                    s3_env,
                ),
            },
        }
        times: dict[str, dict[str, list[float]]] = {c: {t: [] for t in v} for c, v in cases.items()}
        for _ in range(options.rounds):
            for case, tools in cases.items():
                for tool, (command, env) in tools.items():
                    times[case][tool].append(timed(command, env, work))
    server.stop()

    floor = statistics.median(times["python -c pass"]["floor"])
    print(f"rounds: {options.rounds}; file: {artifact.name} ({artifact.stat().st_size:,} B)")
    print(f"{'case':<16} {'aws s':>8} {'dg s':>8} {'dg/aws':>7}  goal")
    print(f"{'python -c pass':<16} {'':>8} {floor:>8.3f}")
    for case in list(cases)[1:]:
        dg = statistics.median(times[case]["deltaglider"])
        aws = statistics.median(times[case]["aws"]) if "aws" in times[case] else None
        ratio = f"{dg / aws:>7.2f}" if aws else f"{'':>7}"
        goal = (
            f"<= {1.5 * floor + 0.060:.3f} s" if case in ("--help", "ls (file://)")
            else "<= 1.2 x aws" if case.startswith("cp") else ""
        )  # fmt: skip
        print(f"{case:<16} {aws if aws else 0:>8.3f} {dg:>8.3f} {ratio}  {goal}")


if __name__ == "__main__":
    main()
