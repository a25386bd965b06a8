"""One object above S3's 5 GiB single-PUT limit through the gateway: a multipart upload
of --size-gb (incompressible, 100 MiB parts), read back whole and checked by SHA256,
then a ranged read across a part boundary. A soak, not a test: it writes the object
about three times (staged parts, the spooled completion, the store).

    .venv/bin/python benchmarks/gateway_large.py [--size-gb 5.5] [--name big.dat]

The default name is not a delta candidate, so this measures the gateway and the store,
not the codec (a delta candidate's first version becomes its prefix's reference,
whose encoding needs about 2.2 times the object in memory: docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_servers import TreeRss, free_port, wait_listening

PART = 100 * 2**20


class Pattern:
    """A file-like object of `size` reproducible incompressible bytes, made as read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.sha256 = hashlib.sha256()

    def read(self, amount: int = -1) -> bytes:
        amount = self.size - self.position if amount < 0 else min(amount, self.size - self.position)
        block, offset = divmod(self.position, 2**20)
        data = b""
        while len(data) < amount + offset:
            data += hashlib.shake_256(block.to_bytes(8, "big")).digest(2**20)
            block += 1
        piece = data[offset : offset + amount]
        self.position += len(piece)
        self.sha256.update(piece)
        return piece


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-gb", type=float, default=5.5)
    parser.add_argument("--name", default="big.dat")
    args = parser.parse_args()
    size = int(args.size_gb * 2**30)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "users.txt").write_text("BIGKEY big-secret\n")
        port = free_port()
        command = [str(Path(sys.executable).with_name("deltaglider")), "serve",
                   "--data", str(work / "store"), "--port", str(port),
                   "--users", str(work / "users.txt"), "--workers", "2"]  # fmt: skip
        log = (work / "serve.log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=log, env=dict(os.environ))
        try:
            wait_listening(port, process)
            s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}",
                              aws_access_key_id="BIGKEY", aws_secret_access_key="big-secret",
                              region_name="us-east-1")  # fmt: skip
            s3.create_bucket(Bucket="large")
            config = TransferConfig(multipart_chunksize=PART, max_concurrency=4)
            body = Pattern(size)
            with TreeRss(process.pid) as rss:
                started = time.perf_counter()
                s3.upload_fileobj(body, "large", args.name, Config=config)
                up = time.perf_counter() - started
                head = s3.head_object(Bucket="large", Key=args.name)
                digest = hashlib.sha256()
                started = time.perf_counter()
                stream = s3.get_object(Bucket="large", Key=args.name)["Body"]
                while chunk := stream.read(8 * 2**20):
                    digest.update(chunk)
                down = time.perf_counter() - started
            assert head["ContentLength"] == size, head["ContentLength"]
            assert digest.hexdigest() == body.sha256.hexdigest(), "the object came back changed"
            edge = s3.get_object(Bucket="large", Key=args.name,
                                 Range=f"bytes={PART - 10}-{PART + 9}")["Body"].read()  # fmt: skip
            assert edge == Pattern(size).read(PART + 10)[-20:]
            print(f"{size / 1e9:.2f} GB ({head['ETag']}): up {size / up / 1e6:.1f} MB/s, "
                  f"down {size / down / 1e6:.1f} MB/s, SHA256 equal, gateway peak RSS "
                  f"{rss.peak / 1e6:.0f} MB")  # fmt: skip
        finally:
            process.terminate()
            process.wait(timeout=60)
            log.close()


if __name__ == "__main__":
    main()
