"""The S3 gateway under load: a release series through it against the same client
straight to the backend, and peak memory with many clients uploading large objects.

    .venv/bin/python benchmarks/gateway_throughput.py [--corpus DIR] [--upstream]
        [--clients 16] [--size-mb 200] [--workers 2]

1. Release series: every file of the corpus's first series (benchmarks/corpus/fetch.sh;
   release zips made on the spot without --corpus) PUT by boto3 (its default transfer
   settings, 8 MiB parts above 8 MiB) then GET back and compared, through
   `deltaglider serve`, and, with --upstream (DG_TEST_CEPH_ENDPOINT and its keys, as
   scripts/ceph-rgw.sh writes them), by the same client straight to that S3 as well.
   MB/s are logical bytes over wall time (MB = 10**6 bytes).
2. Memory: --clients threads each upload one object of --size-mb (incompressible, each
   its own) at once through the gateway; the peak RSS of the gateway's whole process
   tree is sampled every 20 ms (TreeRss of gateway_servers.py).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.config

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gateway_servers import TreeRss, free_port, wait_listening
from tests.artifacts import release_zip

KEY, SECRET = "BENCHKEY", "bench-secret"


def client(endpoint: str, key: str, secret: str, *, ceph: bool = False) -> Any:
    config = botocore.config.Config(
        retries={"max_attempts": 2},
        request_checksum_calculation="when_required" if ceph else "when_supported",
        max_pool_connections=64,
    )
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                        aws_secret_access_key=secret, region_name="us-east-1",
                        config=config)  # fmt: skip


def series_files(corpus: Path | None, work: Path) -> list[Path]:
    if corpus is not None:
        first = sorted(p for p in corpus.iterdir() if p.is_dir())[0]
        return sorted(p for p in first.iterdir() if p.is_file())
    return [release_zip(work / f"app-1.{v}.zip", v, files=8, file_size=2 * 2**20)
            for v in range(10)]  # fmt: skip


def round_trip(s3: Any, bucket: str, files: list[Path], work: Path) -> tuple[float, float]:
    """PUT then GET MB/s of the series."""
    s3.create_bucket(Bucket=bucket)
    total = sum(p.stat().st_size for p in files)
    started = time.perf_counter()
    for path in files:
        s3.upload_file(str(path), bucket, f"series/{path.name}")
    put = total / (time.perf_counter() - started) / 1e6
    started = time.perf_counter()
    for path in files:
        out = work / f"back-{bucket}-{path.name}"
        s3.download_file(bucket, f"series/{path.name}", str(out))
        assert out.read_bytes() == path.read_bytes(), path
        out.unlink()
    get = total / (time.perf_counter() - started) / 1e6
    return put, get


def empty(s3: Any, bucket: str) -> None:
    """Remove a benchmark bucket and what is in it (a memstore Ceph keeps it all in RAM)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    for start in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[start : start + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)


def memory(s3: Any, bucket: str, clients: int, size: int, pid: int) -> tuple[int, float]:
    """Peak RSS (bytes) of the gateway while `clients` upload `size` bytes each."""
    s3.create_bucket(Bucket=bucket)
    errors: list[BaseException] = []

    def upload(number: int) -> None:
        try:
            body = hashlib.shake_256(number.to_bytes(4, "big")).digest(size)
            s3.put_object(Bucket=bucket, Key=f"big/{number}.bin", Body=body)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(clients)]
    with TreeRss(pid) as rss:
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError(errors[0])
    return rss.peak, clients * size / seconds / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--upstream", action="store_true")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        users = work / "users.txt"
        users.write_text(f"{KEY} {SECRET}\n")
        port = free_port()
        env = dict(os.environ)
        if args.upstream:
            backend = ["--upstream", os.environ["DG_TEST_CEPH_ENDPOINT"]]
            env |= {"AWS_ACCESS_KEY_ID": os.environ["DG_TEST_CEPH_ACCESS_KEY"],
                    "AWS_SECRET_ACCESS_KEY": os.environ["DG_TEST_CEPH_SECRET_KEY"],
                    "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
        else:
            backend = ["--data", str(work / "store")]
        command = [str(Path(sys.executable).with_name("deltaglider")), "serve", *backend,
                   "--port", str(port), "--users", str(users),
                   "--workers", str(args.workers)]  # fmt: skip
        log = (work / "serve.log").open("wb")
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        try:
            wait_listening(port, process)
            gateway = client(f"http://127.0.0.1:{port}", KEY, SECRET)
            files = series_files(args.corpus, work)
            total = sum(p.stat().st_size for p in files)
            print(f"series: {len(files)} files, {total / 1e6:.1f} MB")
            put, get = round_trip(gateway, "bench-series", files, work)
            empty(gateway, "bench-series")
            print(f"  through the gateway   PUT {put:7.1f} MB/s   GET {get:7.1f} MB/s")
            if args.upstream:
                direct = client(os.environ["DG_TEST_CEPH_ENDPOINT"],
                                os.environ["DG_TEST_CEPH_ACCESS_KEY"],
                                os.environ["DG_TEST_CEPH_SECRET_KEY"], ceph=True)  # fmt: skip
                put, get = round_trip(direct, "bench-direct", files, work)
                empty(direct, "bench-direct")
                print(f"  straight to the S3    PUT {put:7.1f} MB/s   GET {get:7.1f} MB/s")
            peak, rate = memory(gateway, "bench-memory", args.clients,
                                args.size_mb * 10**6, process.pid)  # fmt: skip
            empty(gateway, "bench-memory")
            print(f"memory: {args.clients} clients x {args.size_mb} MB at once: "
                  f"{rate:.1f} MB/s, peak RSS {peak / 1e6:.0f} MB "
                  f"({args.workers} workers)")  # fmt: skip
        finally:
            process.terminate()
            process.wait(timeout=60)
            log.close()


if __name__ == "__main__":
    main()
