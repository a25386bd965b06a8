"""Peak memory of the `deltaglider` command on large artifacts: does RSS follow file size?

    .venv/bin/python benchmarks/memory.py [--sizes 1000,4000,20000] [--backend file|moto|both]
        [--env "K=V ..."] [--compare "K=V ..."] [--compare-up-to MB] [--work DIR]

For each size (MB, 10**6 bytes) two release-like artifacts are made on the fly, never
kept on disk: `app-1.0.bin`, incompressible pseudo-random bytes, and `app-1.1.bin`, the
same with realistic small changes: a 1 MiB insertion at 10% (every later offset shifts),
a 4 MiB block moved from 20% to 70%, and 64 KiB overwritten at 30%, 50% and 90%. Per
backend and configuration, runs as separate processes, the artifact piped into standard
input: `deltaglider cp - s3://bench/mem-SIZE/app-1.0.bin` (the reference), the same for
`app-1.1.bin` (a delta), and `deltaglider cp s3://bench/mem-SIZE/app-1.1.bin -` (rebuilt
from the delta, its standard output hashed and checked against the original). Prints one
row per step: wall seconds (process start included), MB/s, the peak RSS of that
deltaglider process (`ru_maxrss` from `os.wait4`, taken in a small launcher process:
series.LAUNCHER), its ratio to the file size, and the bytes the step added to the store
(from `deltaglider stats --json`). The idle line is the RSS of `deltaglider stats`, the
cost of the interpreter and imports. `--env` adds environment variables to every run;
`--compare` runs a second configuration (those variables on top, e.g. the parent
commit's sources as PYTHONPATH) side by side, for sizes up to `--compare-up-to`.
All MB here are 10**6 bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

import series  # the sibling benchmark: run(), backend(), env_pairs(), LAUNCHER

CHUNK = 16 * 2**20  # generation and hashing granularity
MIB = 2**20
INSERT = MIB  # inserted at 10%
MOVED = 4 * MIB  # moved from 20% to 70%
RUN = 64 * 2**10  # overwritten at 30%, 50% and 90%


def keystream(seed: int, offset: int, count: int) -> Iterator[bytes]:
    """Bytes [offset, offset + count) of a reproducible incompressible stream (AES-CTR
    over zeros: any stretch can be made again without the ones before it)."""
    key = hashlib.sha256(seed.to_bytes(8, "big")).digest()
    block, skip = divmod(offset, 16)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(block.to_bytes(16, "big"))).encryptor()
    encryptor.update(bytes(skip))
    while count > 0:
        take = min(CHUNK, count)
        yield encryptor.update(bytes(take))
        count -= take


@dataclass(frozen=True)
class Piece:
    """`length` bytes of stream `seed` from `offset`: the old version is seed 1."""

    seed: int
    offset: int
    length: int


def old_version(size: int) -> list[Piece]:
    return [Piece(1, 0, size)]


def new_version(size: int) -> list[Piece]:
    """The old version with the changes of the module docstring, as pieces."""
    at = [size * tenth // 10 for tenth in range(10)]
    moved = at[2]
    fresh = iter(range(2, 100))
    pieces: list[Piece] = []
    cursor = 0

    def old(upto: int) -> None:
        nonlocal cursor
        if upto > cursor:
            pieces.append(Piece(1, cursor, upto - cursor))
        cursor = max(cursor, upto)

    old(at[1])
    pieces.append(Piece(next(fresh), 0, INSERT))
    old(moved)
    cursor = moved + MOVED  # the block leaves here...
    for edit in (at[3], at[5]):
        old(edit)
        pieces.append(Piece(next(fresh), 0, RUN))
        cursor += RUN
    old(at[7])
    pieces.append(Piece(1, moved, MOVED))  # ...and comes back here
    old(at[9])
    pieces.append(Piece(next(fresh), 0, RUN))
    cursor += RUN
    old(size)
    return pieces


def stream(pieces: list[Piece]) -> Iterator[bytes]:
    for piece in pieces:
        yield from keystream(piece.seed, piece.offset, piece.length)


def digest_of(pieces: list[Piece]) -> str:
    digest = hashlib.sha256()
    for chunk in stream(pieces):
        digest.update(chunk)
    return digest.hexdigest()


def run_piped(
    args: list[str], env: dict[str, str], feed: list[Piece] | None
) -> tuple[float, int, str]:
    """Wall seconds, peak RSS of the deltaglider process and: with `feed`, its input
    made on the fly; without, the SHA256 of its output."""
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as report:
        launcher = [
            sys.executable, "-I", "-S", "-c", series.LAUNCHER, report.name,
            str(series.DELTAGLIDER), *args,
        ]  # fmt: skip
        child = subprocess.Popen(
            launcher,
            env=env,
            stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if feed is None else subprocess.DEVNULL,
            stderr=err,
        )
        digest = hashlib.sha256()
        if feed is not None:
            _feed(child.stdin, feed)
        else:
            assert child.stdout is not None
            while block := child.stdout.read(CHUNK):
                digest.update(block)
        if child.wait():
            err.seek(0)
            raise SystemExit(f"deltaglider {' '.join(args)} failed: {err.read().decode()}")
        maxrss, seconds = report.read().split()
        return float(seconds), int(maxrss) * 1024, digest.hexdigest()


def _feed(pipe: IO[bytes] | None, pieces: list[Piece]) -> None:
    """Write the artifact into the process's standard input (a process that stopped
    reading fails on its own: its exit status says so)."""
    assert pipe is not None
    try:
        for chunk in stream(pieces):
            pipe.write(chunk)
    except BrokenPipeError:
        pass
    finally:
        with contextlib.suppress(BrokenPipeError):
            pipe.close()


def stored(prefix: str, env: dict[str, str]) -> tuple[int, int, int]:
    """Stored bytes, deltas and RSS of `deltaglider stats --json PREFIX`."""
    _, rss, report = series.run(["stats", "--json", prefix], env)
    total = json.loads(report)["total"]
    return total["stored_bytes"], total["deltas"], rss


HEADER = (
    f"{'size MB':>7} {'config':8} {'step':16} {'seconds':>8} {'MB/s':>7} "
    f"{'RSS MB':>7} {'RSS/size':>8} {'stored bytes':>13} {'stored':>7}"
)


def row(size: int, label: str, step: str, seconds: float, rss: int, added: int | None) -> str:
    stored_cells = f"{added:>13} {100 * added / size:>6.2f}%" if added is not None else ""
    return (
        f"{size / 1e6:>7.0f} {label:8} {step:16} {seconds:>8.2f} {size / 1e6 / seconds:>7.1f} "
        f"{rss / 1e6:>7.0f} {rss / size:>8.2f} {stored_cells}"
    )


def measure(size: int, label: str, env: dict[str, str]) -> None:
    suffix = "" if label == "default" else f"-{label}"
    prefix = f"s3://bench/mem-{size // 10**6}{suffix}/"
    old, new = old_version(size), new_version(size)
    new_size = sum(p.length for p in new)
    seconds, rss, _ = run_piped(["cp", "-", prefix + "app-1.0.bin"], env, old)
    after_reference, _, idle = stored(prefix, env)
    print(row(size, label, "upload reference", seconds, rss, after_reference), flush=True)

    seconds, rss, _ = run_piped(["cp", "-", prefix + "app-1.1.bin"], env, new)
    after_delta, deltas, _ = stored(prefix, env)
    note = "" if deltas else "  (stored whole, not as a delta)"
    added = after_delta - after_reference
    print(row(new_size, label, "upload delta", seconds, rss, added) + note, flush=True)

    seconds, rss, sha256 = run_piped(["cp", prefix + "app-1.1.bin", "-"], env, None)
    print(row(new_size, label, "download delta", seconds, rss, None), flush=True)
    if sha256 != digest_of(new):
        raise SystemExit(f"{prefix}app-1.1.bin did not come back byte-identical")
    series.run(["rm", "--recursive", prefix, "--quiet"], env)  # frees the store / moto
    print(f"{'':7} {label:8} {'idle (stats)':16} {'':8} {'':7} {idle / 1e6:>7.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="MB, comma-separated")
    parser.add_argument("--backend", choices=("file", "moto", "both"), default="file")
    parser.add_argument("--env", help='extra environment for every run, e.g. "DG_CODEC=xdelta3"')
    parser.add_argument("--compare", help='a second configuration, e.g. "DG_CODEC=xdelta3"')
    parser.add_argument("--compare-up-to", type=int, default=1000, help="MB (default 1000)")
    parser.add_argument("--work", type=Path, help="scratch parent folder (default: /tmp)")
    options = parser.parse_args()
    sizes = [int(s) * 10**6 for s in options.sizes.split(",") if s.strip()]
    kinds = ("file", "moto") if options.backend == "both" else (options.backend,)
    print(f"command: {' '.join(shlex.quote(a) for a in sys.argv)}")
    configs = {"default": series.env_pairs(options.env)}
    if options.compare:
        configs["compare"] = configs["default"] | series.env_pairs(options.compare)
    for label, extra in configs.items():
        print(f"config {label}: {' '.join(f'{k}={v}' for k, v in extra.items()) or '(none)'}")
    if options.work:
        options.work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dg-memory-", dir=options.work) as scratch:
        work = Path(scratch)
        for kind in kinds:
            with series.backend(kind, work) as env:
                print(f"\nbackend: {kind}")
                print(HEADER)
                for size in sizes:
                    for label, extra in configs.items():
                        if label == "default" or size <= options.compare_up_to * 10**6:
                            measure(size, label, env | extra | {"TMPDIR": str(work)})


if __name__ == "__main__":
    main()
