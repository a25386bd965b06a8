"""Peak memory of the `deltaglider` command on large artifacts: does RSS follow file size?

    .venv/bin/python benchmarks/memory.py [--sizes 100,1000] [--backend file|moto|both]
        [--env "DG_CODEC=xdelta3 ..."] [--compare "K=V ..."] [--work DIR]

For each size (MB, 10**6 bytes) builds two release-like artifacts in a scratch folder:
`app-1.0.bin`, incompressible pseudo-random bytes, and `app-1.1.bin`, the same with about
1% changed (scattered 64 KiB runs overwritten, a few KB inserted near the start so that
every later offset shifts). Then, per backend and configuration, runs as separate
processes `deltaglider cp app-1.0.bin s3://bench/mem-SIZE/` (the reference),
`deltaglider cp app-1.1.bin s3://bench/mem-SIZE/` (a delta) and
`deltaglider cp s3://bench/mem-SIZE/app-1.1.bin OUT` (rebuilt from the delta; its SHA256
is checked against the original). Prints one row per step: wall seconds (process start
included), MB/s, the peak RSS of that deltaglider process (`ru_maxrss` from `os.wait4`, taken
in a small launcher process: see LAUNCHER)
and its ratio to the file size, and the bytes the step added to the store (from
`deltaglider stats --json`). The idle line is the RSS of `deltaglider stats`, the cost
of the interpreter and imports. `--env` adds environment variables to every run;
`--compare` runs a second configuration (those variables on top) side by side.
All MB here are 10**6 bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

sys.path.insert(0, str(Path(__file__).resolve().parent))
import series  # the sibling benchmark: backend()

CHUNK = 16 * 2**20  # generation and hashing granularity
RUN = 64 * 2**10  # one overwritten run in v1.1
INSERT = 3000  # bytes inserted near the start of v1.1 (not a multiple of anything)
CHANGED = 0.01  # share of v1.0 overwritten in v1.1


@dataclass(frozen=True)
class Artifacts:
    size: int  # bytes of v1.0
    old: Path
    new: Path
    new_sha256: str


class Keystream:
    """Reproducible incompressible bytes, fast: AES-CTR over zeros."""

    def __init__(self, seed: int) -> None:
        key = hashlib.sha256(seed.to_bytes(8, "big")).digest()
        self._encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()

    def take(self, count: int) -> bytes:
        return self._encryptor.update(bytes(count))


def build(size_mb: int, folder: Path, seed: int = 1) -> Artifacts:
    """Write v1.0 and v1.1 chunk by chunk; never more than two chunks in memory."""
    size = size_mb * 10**6
    folder.mkdir(parents=True, exist_ok=True)
    old, new = folder / "app-1.0.bin", folder / "app-1.1.bin"
    base, fresh = Keystream(seed), Keystream(seed + 1000)
    places = random.Random(seed)
    slots = size // RUN  # runs start on RUN boundaries, so none straddles a chunk
    runs = sorted(places.sample(range(1, slots), max(1, round(size * CHANGED / RUN))))
    insert_at = min(100_003, size // 2)  # near the start, in the first chunk
    digest = hashlib.sha256()
    with old.open("wb") as a, new.open("wb") as b:
        for start in range(0, size, CHUNK):
            chunk = base.take(min(CHUNK, size - start))
            a.write(chunk)
            edited = bytearray(chunk)
            while runs and runs[0] * RUN < start + len(chunk):
                offset = runs.pop(0) * RUN - start
                edited[offset : offset + RUN] = fresh.take(RUN)
            if start <= insert_at < start + len(chunk):
                edited[insert_at - start : insert_at - start] = fresh.take(INSERT)
            b.write(edited)
            digest.update(edited)
    return Artifacts(size, old, new, digest.hexdigest())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


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


def measure(art: Artifacts, label: str, env: dict[str, str], work: Path) -> None:
    suffix = "" if label == "default" else f"-{label}"
    prefix = f"s3://bench/mem-{art.size // 10**6}{suffix}/"
    seconds, rss, _ = series.run(["cp", str(art.old), prefix, "--no-progress"], env)
    after_reference, _, idle = stored(prefix, env)
    print(row(art.size, label, "upload reference", seconds, rss, after_reference), flush=True)

    new_size = art.new.stat().st_size
    seconds, rss, _ = series.run(["cp", str(art.new), prefix, "--no-progress"], env)
    after_delta, deltas, _ = stored(prefix, env)
    added = after_delta - after_reference
    note = "" if deltas else "  (stored whole, not as a delta)"
    print(row(new_size, label, "upload delta", seconds, rss, added) + note, flush=True)

    out = work / "out" / art.new.name
    out.parent.mkdir(parents=True, exist_ok=True)
    seconds, rss, _ = series.run(["cp", prefix + art.new.name, str(out), "--no-progress"], env)
    same = sha256_of(out) == art.new_sha256
    out.unlink()
    print(row(new_size, label, "download delta", seconds, rss, None), flush=True)
    if not same:
        raise SystemExit(f"{prefix}{art.new.name} did not come back byte-identical")
    series.run(["rm", "--recursive", prefix, "--quiet"], env)  # frees the store / moto
    print(f"{'':7} {label:8} {'idle (stats)':16} {'':8} {'':7} {idle / 1e6:>7.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="MB, comma-separated")
    parser.add_argument("--backend", choices=("file", "moto", "both"), default="file")
    parser.add_argument("--env", help='extra environment for every run, e.g. "DG_CODEC=xdelta3"')
    parser.add_argument("--compare", help='a second configuration, e.g. "DG_CODEC=xdelta3"')
    parser.add_argument("--work", type=Path, help="scratch parent folder (default: /tmp)")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",") if s.strip()]
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
        artifacts = []
        for size_mb in sizes:
            started = time.perf_counter()
            art = build(size_mb, work / f"data-{size_mb}")
            artifacts.append(art)
            print(
                f"built {size_mb} MB: {art.old.name} {art.size} bytes, {art.new.name} "
                f"{art.new.stat().st_size} bytes, in {time.perf_counter() - started:.1f} s"
            )
        for kind in kinds:
            with series.backend(kind, work) as env:
                print(f"\nbackend: {kind}")
                print(HEADER)
                for art in artifacts:
                    for label, extra in configs.items():
                        measure(art, label, env | extra, work)


if __name__ == "__main__":
    main()
