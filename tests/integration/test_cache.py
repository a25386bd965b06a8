"""The reference cache: content-addressed on disk or in memory, encrypted at rest,
verified on every read, cleaned up on every kind of exit."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deltaglider.adapters.cache_encrypted import EncryptedCache
from deltaglider.adapters.cache_fs import FilesystemCache
from deltaglider.adapters.cache_memory import MemoryCache
from deltaglider.adapters.clock import UtcClock
from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.adapters.metrics import NoopMetrics
from deltaglider.adapters.sha256 import Sha256Hasher
from deltaglider.adapters.xdelta3 import Xdelta3Codec
from deltaglider.app.cli.main import run
from deltaglider.core.models import ObjectKey
from deltaglider.core.policy import DeltaPolicy
from deltaglider.core.service import DeltaService
from deltaglider.ports import CachePort
from tests.artifacts import release_zip
from tests.conftest import Backend
from tests.fakes import put_file

LOG = logging.getLogger("deltaglider.test.cache")
DELTAGLIDER = Path(sys.executable).with_name("deltaglider")


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_encrypted_entries_never_hold_plaintext(tmp_path: Path) -> None:
    plain = random.Random(1).randbytes(300_000)
    source = tmp_path / "reference.bin"
    source.write_bytes(plain)
    inner = FilesystemCache(tmp_path / "cache")
    cache = EncryptedCache(inner, LOG)
    cache.store("ab" * 32, source)

    stored = files_under(tmp_path / "cache")
    assert [p.relative_to(tmp_path / "cache").as_posix() for p in stored] == [f"ab/ab/{'ab' * 32}"]
    blob = stored[0].read_bytes()
    for offset in range(0, len(plain) - 32, 4096):  # no 32-byte run of the plaintext
        assert plain[offset : offset + 32] not in blob
    out = tmp_path / "out"
    assert cache.fetch("ab" * 32, out)
    assert out.read_bytes() == plain


def test_another_process_key_cannot_read_and_the_entry_is_discarded(tmp_path: Path) -> None:
    source = tmp_path / "ref"
    source.write_bytes(b"reference bytes" * 100)
    shared = FilesystemCache(tmp_path / "cache")
    EncryptedCache(shared, LOG).store("cd" * 32, source)
    assert not EncryptedCache(shared, LOG).fetch("cd" * 32, tmp_path / "out")  # other key
    assert files_under(tmp_path / "cache") == []


def test_memory_cache_evicts_least_recently_used_by_size(tmp_path: Path) -> None:
    cache = MemoryCache(limit_bytes=250)
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(name.encode() * 100)
    cache.store("a", tmp_path / "a")
    cache.store("b", tmp_path / "b")
    assert cache.fetch("a", tmp_path / "out")  # a is now the most recently used
    cache.store("c", tmp_path / "c")  # 300 bytes > 250: the least recent (b) goes
    assert (cache.holds("a"), cache.holds("b"), cache.holds("c")) == (True, False, True)
    assert cache.size_bytes == 200

    (tmp_path / "huge").write_bytes(bytes(251))
    cache.store("huge", tmp_path / "huge")  # larger than the limit: not kept
    assert not cache.holds("huge")
    assert cache.size_bytes == 200


def service_over(storage: InMemoryStorage, cache: CachePort) -> DeltaService:
    if "bucket" not in storage.buckets:
        storage.create_bucket("bucket")
    return DeltaService(
        storage=storage,
        buckets=storage,
        diff=Xdelta3Codec(),
        hasher=Sha256Hasher(),
        cache=cache,
        clock=UtcClock(),
        logger=LOG,
        metrics=NoopMetrics(),
        policy=DeltaPolicy(),
        tool="deltaglider/test",
    )


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "plain"])
def test_tampered_cache_entry_is_detected_and_fetched_again(
    tmp_path: Path, encrypted: bool, caplog: pytest.LogCaptureFixture
) -> None:
    storage = InMemoryStorage()
    disk = FilesystemCache(tmp_path / "cache")
    cache: CachePort = EncryptedCache(disk, LOG) if encrypted else disk
    writer = service_over(storage, cache)
    builds = [release_zip(tmp_path / f"v{v}.zip", v, files=6, file_size=10_000) for v in range(2)]
    for path in builds:
        put_file(writer, path, ObjectKey("bucket", path.name))
    [entry] = files_under(tmp_path / "cache")
    damaged = bytearray(entry.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    entry.write_bytes(bytes(damaged))

    reader = service_over(storage, cache)
    downloads = storage.calls["download"]
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        reader.get(ObjectKey("bucket", "v1.zip"), tmp_path / "out.zip")
    assert (tmp_path / "out.zip").read_bytes() == builds[1].read_bytes()
    assert storage.calls["download"] - downloads == 2  # the delta, and the reference again
    assert any("cached reference" in record.message for record in caplog.records)
    reader.get(ObjectKey("bucket", "v0.zip"), tmp_path / "out0.zip")
    # v0 is its reference's bytes, served by the repaired entry: nothing downloaded.
    assert storage.calls["download"] - downloads == 2


@pytest.mark.parametrize("backend", ["moto"], indirect=True)
@pytest.mark.parametrize("cache_backend", ["filesystem", "memory"])
def test_recursive_download_of_20_versions_gets_the_reference_once(
    backend: Backend,
    tmp_path: Path,
    s3_requests: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    cache_backend: str,
) -> None:
    monkeypatch.setenv("DG_CACHE_BACKEND", cache_backend)
    builds = tmp_path / "builds"
    builds.mkdir()
    for version in range(20):
        release_zip(builds / f"app-1.{version:02d}.zip", version, files=10, file_size=20_000)
    target = f"s3://{backend.bucket}/app/"
    assert run(["cp", "--recursive", str(builds), target, "--only-show-errors"]) == 0
    s3_requests.clear()

    down = tmp_path / "down"
    assert run(["cp", "--recursive", target, str(down), "--only-show-errors"]) == 0

    gets = [key for operation, key in s3_requests if operation == "GetObject"]
    assert gets.count("app/reference.bin") == 1
    assert sorted(gets) == sorted(
        ["app/.dg-index.json", "app/reference.bin"]
        + [f"app/{p.name}.delta" for p in builds.iterdir() if p.name != "app-1.00.zip"]
    )  # the listing index, the reference once, each later version's delta (the first
    # version is the reference's bytes)
    for path in builds.iterdir():
        assert (down / path.name).read_bytes() == path.read_bytes()


# ------------------------------------------------------------- cleanup on every exit


def private_dirs(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("deltaglider-"))


@pytest.fixture
def stored_versions(tmp_path: Path) -> tuple[dict[str, str], list[Path]]:
    """A file:// store holding 6 versions (xdelta3 deltas, so a slowed xdelta3 can hold a
    download up), and the environment of a command using it."""
    store = tmp_path / "store"
    (store / "bucket").mkdir(parents=True)
    builds = [release_zip(tmp_path / f"v{v}.zip", v, files=10, file_size=30_000) for v in range(6)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DG_"))}
    env |= {
        "AWS_ENDPOINT_URL": store.as_uri(),
        "TMPDIR": str(tmp_path / "tmp"),
        "DG_CODEC": "xdelta3",
    }
    (tmp_path / "tmp").mkdir()
    for path in builds:
        subprocess.run(
            [DELTAGLIDER, "cp", str(path), "s3://bucket/r/"],
            env=env,
            check=True,
            capture_output=True,
        )
    assert private_dirs(tmp_path / "tmp") == []
    return env, builds


def test_private_cache_is_removed_after_a_normal_exit(
    tmp_path: Path, stored_versions: tuple[dict[str, str], list[Path]]
) -> None:
    env, _ = stored_versions
    done = subprocess.run(
        [DELTAGLIDER, "cp", "--recursive", "s3://bucket/r/", str(tmp_path / "down")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "down").iterdir())) == 6
    assert private_dirs(tmp_path / "tmp") == []


def test_private_cache_is_removed_after_an_error(
    tmp_path: Path, stored_versions: tuple[dict[str, str], list[Path]]
) -> None:
    env, _ = stored_versions
    delta = tmp_path / "store/bucket/r/v3.zip.delta"
    delta.write_bytes(delta.read_bytes()[:-20] + bytes(20))  # one corrupt object of six
    done = subprocess.run(
        [DELTAGLIDER, "cp", "--recursive", "s3://bucket/r/", str(tmp_path / "down")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "download failed: s3://bucket/r/v3.zip" in done.stderr
    assert private_dirs(tmp_path / "tmp") == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_private_cache_is_removed_after_an_interrupt(
    tmp_path: Path, stored_versions: tuple[dict[str, str], list[Path]], signum: int
) -> None:
    env, _ = stored_versions
    # A slow xdelta3 keeps the download busy until the signal comes, which is sent once
    # a decode has begun (the file it touches), whatever the machine's load.
    slow = tmp_path / "bin"
    slow.mkdir()
    begun = tmp_path / "decoding"
    (slow / "xdelta3").write_text(
        f'#!/bin/sh\ntouch {begun}\nsleep 2\nexec /usr/bin/xdelta3 "$@"\n'
    )
    (slow / "xdelta3").chmod(0o755)
    env = env | {"PATH": f"{slow}:{env['PATH']}"}
    process = subprocess.Popen(
        [DELTAGLIDER, "cp", "--recursive", "s3://bucket/r/", str(tmp_path / "down")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not begun.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert private_dirs(tmp_path / "tmp"), "the download never started"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130
    assert "cancelled" in stderr
    assert "Traceback" not in stderr
    assert private_dirs(tmp_path / "tmp") == []
    down = tmp_path / "down"
    leftovers = [p.name for p in down.iterdir() if ".dg-tmp-" in p.name] if down.exists() else []
    assert leftovers == []


# ------------------------------------------------------------- a cache shared by processes

WRITER = """
import sys, hashlib, random
from pathlib import Path
from deltaglider.adapters.cache_fs import FilesystemCache
root, seed, rounds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cache = FilesystemCache(root)
bodies = [random.Random(n).randbytes(200_000 + n) for n in range(4)]
keys = [hashlib.sha256(b).hexdigest() for b in bodies]
scratch = Path(sys.argv[4])
for i in range(rounds):
    n = (seed + i) % 4
    source = scratch / f"src-{seed}"
    source.write_bytes(bodies[n])
    cache.store(keys[n], source)
    out = scratch / f"out-{seed}"
    out.unlink(missing_ok=True)
    for m in range(4):
        if cache.fetch(keys[m], out):
            got = hashlib.sha256(out.read_bytes()).hexdigest()
            if got != keys[m]:
                print("HALF-WRITTEN", m); sys.exit(1)
            out.unlink()
"""


def test_processes_sharing_a_cache_directory_never_see_half_an_entry(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "cache"), str(seed), "60", str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in range(4)
    ]
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0, out
    entries = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(entries) == 4
    assert not [p for p in entries if p.name.startswith(".incoming-")]
