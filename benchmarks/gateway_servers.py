"""Which HTTP server should carry the S3 gateway? PUT and GET through each, side by side.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/gateway_servers.py [--servers gunicorn,uvicorn,waitress,granian]
        [--clients 8] [--small-requests 12] [--large-requests 2] [--rounds 1]

The gateway's work is synchronous (DeltaService) and partly CPU-bound (hashing, delta
encoding). Every candidate serves the same handler: a PUT streams its body to a file in
64 KiB-1 MiB pieces while computing its SHA256 and MD5 (what core/spool.py does for each
upload), a GET streams a stored file back in 1 MiB pieces. Each server runs as its own
process tree on a free port of 127.0.0.1 with two worker processes where it has them
(the machine has 2 cores). N client threads (http.client, keep-alive) PUT then GET 1 MiB
bodies and then 50 MiB bodies. Printed per server and size: MB/s of PUT and GET
(MB = 10**6 bytes, total bytes over wall time), median request latency, and the peak RSS
of the whole server process tree (sampled every 20 ms from /proc).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

PIECE = 1024 * 1024
SMALL, LARGE = 1024 * 1024, 50 * 1024 * 1024
STORE = Path(os.environ.get("GW_BENCH_STORE", tempfile.gettempdir())) / "dg-gw-bench"

# ------------------------------------------------------------------ the handler, twice


def _store_path(path: str) -> Path:
    return STORE / path.strip("/").replace("/", "_")


def _put(chunks: Iterable[bytes], path: str) -> str:
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    target = _store_path(path)
    temp = target.with_name(target.name + f".tmp-{threading.get_ident()}")
    with temp.open("wb") as out:
        for chunk in chunks:
            sha256.update(chunk)
            md5.update(chunk)
            out.write(chunk)
    temp.replace(target)
    return md5.hexdigest()


def _pieces(path: Path) -> Iterator[bytes]:
    with path.open("rb") as body:
        while piece := body.read(PIECE):
            yield piece


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The WSGI form (gunicorn, waitress, granian)."""
    path = environ["PATH_INFO"]
    if environ["REQUEST_METHOD"] == "PUT":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        stream = environ["wsgi.input"]

        def body() -> Iterator[bytes]:
            left = length
            while left > 0:
                chunk = stream.read(min(PIECE, left))
                if not chunk:
                    break
                left -= len(chunk)
                yield chunk

        etag = _put(body(), path)
        start_response("200 OK", [("ETag", f'"{etag}"'), ("Content-Length", "0")])
        return [b""]
    target = _store_path(path)
    size = target.stat().st_size
    start_response("200 OK", [("Content-Length", str(size))])
    return _pieces(target)


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI form (uvicorn), through Starlette as a framework would be used: the
    synchronous work goes to Starlette's thread pool, as the service's would."""
    if scope["type"] != "http":
        return
    request = Request(scope, receive)
    path = scope["path"]
    if request.method == "PUT":
        sha256, md5 = hashlib.sha256(), hashlib.md5()
        target = _store_path(path)
        temp = target.with_name(target.name + f".tmp-{id(request)}")
        out = temp.open("wb")
        async for chunk in request.stream():
            await run_in_threadpool(_absorb, chunk, sha256, md5, out)
        out.close()
        temp.replace(target)
        response: Response = Response(b"", headers={"ETag": f'"{md5.hexdigest()}"'})
    else:
        target = _store_path(path)
        response = StreamingResponse(
            iterate_in_threadpool(_pieces(target)),
            headers={"Content-Length": str(target.stat().st_size)},
        )
    await response(scope, receive, send)


def _absorb(chunk: bytes, sha256: Any, md5: Any, out: Any) -> None:
    sha256.update(chunk)
    md5.update(chunk)
    out.write(chunk)


# ------------------------------------------------------------------ the servers

MODULE = "gateway_servers"
SERVERS: dict[str, Callable[[int], list[str]]] = {
    "gunicorn": lambda port: [
        sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "2",
        "--threads", "8", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
        f"{MODULE}:wsgi_app",
    ],
    "uvicorn": lambda port: [
        sys.executable, "-m", "uvicorn", "--workers", "2", "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warning", "--no-access-log",
        f"{MODULE}:asgi_app",
    ],
    "waitress": lambda port: [
        sys.executable, "-m", "waitress", "--threads", "8", f"--listen=127.0.0.1:{port}",
        f"{MODULE}:wsgi_app",
    ],
    "granian": lambda port: [
        sys.executable, "-m", "granian", "--interface", "wsgi", "--workers", "2",
        "--blocking-threads", "8", "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", f"{MODULE}:wsgi_app",
    ],
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start listening")


class TreeRss:
    """Peak resident memory of a process and all its descendants, sampled."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, sum(_rss(pid) for pid in _tree(self.pid)))


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# ------------------------------------------------------------------ the clients


@dataclass(frozen=True)
class Phase:
    method: str
    size: int
    seconds: float
    latencies: list[float]
    bytes: int

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / 1e6


def run_phase(port: int, method: str, size: int, clients: int, requests: int) -> Phase:
    body = os.urandom(size) if method == "PUT" else b""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        for request in range(requests):
            path = f"/bench/{size}-{number}-{request}"
            started = time.perf_counter()
            if method == "PUT":
                connection.request("PUT", path, body=body)
                response = connection.getresponse()
                response.read()
            else:
                connection.request("GET", path)
                response = connection.getresponse()
                got = 0
                while piece := response.read(PIECE):
                    got += len(piece)
                if got != size:
                    errors.append(f"GET {path}: {got} of {size} bytes")
            elapsed = time.perf_counter() - started
            if response.status != 200:
                errors.append(f"{method} {path}: HTTP {response.status}")
            with lock:
                latencies.append(elapsed)
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError("; ".join(errors[:3]))
    return Phase(method, size, seconds, latencies, size * clients * requests)


def measure(name: str, clients: int, small: int, large: int) -> list[tuple[Phase, int]]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent))
    process = subprocess.Popen(SERVERS[name](port), env=env)
    results = []
    try:
        wait_listening(port, process)
        for size, requests in ((SMALL, small), (LARGE, large)):
            for method in ("PUT", "GET"):
                with TreeRss(process.pid) as rss:
                    phase = run_phase(port, method, size, clients, requests)
                results.append((phase, rss.peak))
    finally:
        process.terminate()
        process.wait(timeout=30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", default="gunicorn,uvicorn,waitress,granian")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--small-requests", type=int, default=12, help="per client, 1 MiB")
    parser.add_argument("--large-requests", type=int, default=2, help="per client, 50 MiB")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    shutil.rmtree(STORE, ignore_errors=True)
    STORE.mkdir(parents=True)
    rows: dict[tuple[str, str, int], list[tuple[Phase, int]]] = {}
    try:
        for _ in range(args.rounds):
            for name in args.servers.split(","):
                for phase, peak in measure(
                    name, args.clients, args.small_requests, args.large_requests
                ):
                    rows.setdefault((name, phase.method, phase.size), []).append((phase, peak))
    finally:
        shutil.rmtree(STORE, ignore_errors=True)
    print(f"{args.clients} clients; medians of {args.rounds} round(s)")
    print(f"{'server':<10} {'request':<12} {'MB/s':>8} {'median ms':>10} {'peak RSS MB':>12}")
    for (name, method, size), measured in rows.items():
        mbs = statistics.median(p.mb_per_s for p, _ in measured)
        latency = statistics.median(statistics.median(p.latencies) for p, _ in measured)
        peak = statistics.median(rss for _, rss in measured)
        label = f"{method} {size // 2**20} MiB"
        print(f"{name:<10} {label:<12} {mbs:>8.1f} {1000 * latency:>10.1f} {peak / 1e6:>12.1f}")


if __name__ == "__main__":
    main()
