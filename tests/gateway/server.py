"""A `deltaglider serve` started for a test: a subprocess on a free port of 127.0.0.1,
the real command line, stopped by its PID; and clients pointed at it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config

USERS = {"GWTESTKEY1": "gw-test-secret-1", "GWTESTKEY2": "gw-test-secret-2/+x"}
COMMAND = [str(Path(sys.executable).with_name("deltaglider"))]  # the installed command


@dataclass(frozen=True)
class Gateway:
    endpoint: str
    port: int
    data: Path | None
    log: Path
    certificate: str | None = None  # HTTPS with this self-signed certificate

    def client(self, user: str = "GWTESTKEY1", secret: str | None = None, **config: Any) -> Any:
        """A boto3 S3 client with boto3's default configuration (checksums and all)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            verify=self.certificate or True,
            aws_access_key_id=user,
            aws_secret_access_key=secret if secret is not None else USERS[user],
            region_name="us-east-1",
            config=botocore.config.Config(retries={"max_attempts": 1}, **config),
        )

    def access_lines(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if "gateway.access" in line]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def users_file(directory: Path) -> Path:
    path = directory / "users.txt"
    path.write_text("# test users\n" + "".join(f"{k} {v}\n" for k, v in USERS.items()))
    return path


@contextmanager
def running(
    work: Path, backend: Sequence[str], *, extra: Sequence[str] = (), workers: int = 2,
    env: dict[str, str] | None = None, tls: tuple[Path, Path] | None = None,
) -> Iterator[Gateway]:  # fmt: skip
    """`deltaglider serve BACKEND --users FILE` until the block ends."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = work / f"serve-{port}.log"
    args = [*COMMAND, "serve", *backend, "--port", str(port), "--workers", str(workers),
            "--users", str(users_file(work)), *extra]  # fmt: skip
    if tls is not None:
        args += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env or dict(os.environ)
        )
    try:
        _wait_listening(port, process, log)
        data = Path(backend[1]) if backend and backend[0] == "--data" else None
        scheme = "https" if tls else "http"
        certificate = str(tls[0]) if tls else None
        yield Gateway(f"{scheme}://127.0.0.1:{port}", port, data, log, certificate)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"deltaglider serve exited:\n{log.read_text()}")
        if "deltaglider serve: http" in log.read_text():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"deltaglider serve did not start:\n{log.read_text()}")
