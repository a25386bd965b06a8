"""A read takes metadata and bytes from one version of the stored object: an overwrite
between the HEAD and the GET yields one version's exact bytes, never a false "corrupt".

A reader whose store overwrites the key for real right after the HEAD of it, on every
backend (file, moto, Ceph RGW: deterministic); two processes, one overwriting a key and
one reading it, for a few seconds, on file and moto (stochastic); and the filesystem
backend's own pairing of a data file with its metadata sidecar.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deltaglider.adapters.localfs import LocalFilesystemStorage
from deltaglider.app.wiring import build_service
from deltaglider.core.models import ObjectKey
from deltaglider.core.service import DeltaService
from deltaglider.ports import ObjectInfo, StoragePort
from tests.artifacts import random_file, release_zip
from tests.conftest import Backend
from tests.fakes import put_file


class OverwrittenAfterHead:
    """A real store in which, right after the first HEAD that finds one of `keys`, that
    key is overwritten for real (by `overwrite`, another client's put) before the HEAD's
    answer reaches the reader. The wrapper only times a real concurrent write: every
    byte and every answer still comes from the store."""

    def __init__(self, storage: StoragePort, keys: set[str], overwrite: Callable[[], None]):
        self.storage = storage
        self.keys = keys
        self.overwrite: Callable[[], None] | None = overwrite

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        found = self.storage.head(bucket, key)
        if found is not None and key in self.keys and self.overwrite is not None:
            overwrite, self.overwrite = self.overwrite, None
            overwrite()
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)


# (first version's form, second version's form): False is a delta, True stored whole.
SWITCHES = {
    "delta-to-delta": ("app.zip", False, False),
    "direct-to-direct": ("notes.txt", True, True),
    "delta-to-direct": ("app.zip", False, True),
    "direct-to-delta": ("app.zip", True, False),
}


@pytest.mark.parametrize("switch", SWITCHES)
def test_an_overwrite_between_head_and_get_reads_one_version(
    backend: Backend, tmp_path: Path, switch: str
) -> None:
    name, first_whole, second_whole = SWITCHES[switch]
    if name.endswith(".zip"):
        first, second = (release_zip(tmp_path / f"v{v}.zip", v, files=8) for v in (1, 2))
    else:
        first, second = (random_file(tmp_path / f"v{v}.txt", 40_000 + v, v) for v in (1, 2))
    writer = backend.service()
    # Another delta in the prefix keeps the reference there when the key moves to `K`
    # (today a DeltaSpace's last delta going takes its reference with it).
    put_file(
        writer,
        release_zip(tmp_path / "anchor.zip", 0, files=8),
        ObjectKey(backend.bucket, "r/a.zip"),
    )
    target = ObjectKey(backend.bucket, f"r/{name}")
    versions = {first.read_bytes(), second.read_bytes()}

    for read in ("get", "verify"):
        put_file(writer, first, target, no_delta=first_whole)
        storage = OverwrittenAfterHead(
            backend.storage(),
            {target.key, target.delta_key},
            lambda: put_file(writer, second, target, no_delta=second_whole),
        )
        reader = build_service(backend.settings(), storage)
        if read == "get":
            result = reader.get(target, tmp_path / "out" / name)
            assert (tmp_path / "out" / name).read_bytes() in versions
            assert result.sha256 in {hashlib.sha256(v).hexdigest() for v in versions}
        else:
            checked = reader.verify(target)
            assert checked.ok, checked
        assert storage.overwrite is None  # the overwrite did happen mid-read


READER_AND_WRITER = """
import json, logging, os, sys, time
from pathlib import Path
from deltaglider.app.cli.publish import StoreOptions, publish
from deltaglider.app.settings import Settings
from deltaglider.app.wiring import build_service
from deltaglider.core.errors import DeltaGliderError
from deltaglider.core.models import ObjectKey

class Retries(logging.Handler):  # the reads that met an overwrite, as the service logs them
    seen = 0
    def emit(self, record):
        Retries.seen += "while being read" in record.getMessage()

role, bucket, key, until, out, *versions = sys.argv[1:]
service = build_service(Settings.load(os.environ))
logging.getLogger("deltaglider").setLevel(logging.DEBUG)
logging.getLogger("deltaglider").addHandler(Retries())
target = ObjectKey(bucket, key)
counts = {}
errors = []
step = 0
while time.time() < float(until):
    if role == "writer":  # every move: delta to delta, to whole, whole to whole, to delta
        whole = StoreOptions(no_delta=step % 4 in (2, 3))
        publish(service, Path(versions[step % 2]), target, whole)
        counts[str(step % 4)] = counts.get(str(step % 4), 0) + 1
    else:
        try:
            service.get(target, Path(out))
            got = Path(out).read_bytes()
            seen = next((v for v in versions if Path(v).read_bytes() == got), "other bytes")
            counts[seen] = counts.get(seen, 0) + 1
        except DeltaGliderError as exc:
            errors.append(str(exc))
    step += 1
print(json.dumps({"counts": counts, "errors": errors, "retries": Retries.seen}))
"""


@pytest.mark.parametrize("backend", ["file", "moto"], indirect=True)
def test_reads_racing_overwrites_always_get_one_version(backend: Backend, tmp_path: Path) -> None:
    """One process overwrites a key with two versions in turn, moving it between `K` and
    `K.delta` as well; another downloads it again and again. Every download must give
    one version's exact bytes: neither "corrupt" nor "does not exist", since at every
    moment one form of the key exists (a put stores the new form before removing the
    old). Another delta in the prefix keeps its reference in place: with today's
    deletes, a DeltaSpace's last delta going takes the reference with it."""
    versions = [
        str(release_zip(tmp_path / f"v{v}.zip", v, files=12, file_size=20_000)) for v in (1, 2)
    ]
    service = backend.service()
    put_file(service, release_zip(tmp_path / "anchor.zip", 0), ObjectKey(backend.bucket, "r/a.zip"))
    put_file(service, Path(versions[0]), ObjectKey(backend.bucket, "r/app.zip"))
    script = tmp_path / "race.py"
    script.write_text(READER_AND_WRITER)
    until = str(time.time() + 6)
    processes = {
        role: subprocess.Popen(
            [sys.executable, str(script), role, backend.bucket, "r/app.zip", until,
             str(tmp_path / f"{role}.out"), *versions],
            env=backend.subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role in ("writer", "reader")
    }  # fmt: skip
    results = {}
    for role, process in processes.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results[role] = json.loads(out)

    reader, writer = results["reader"], results["writer"]
    assert reader["errors"] == []
    assert reader["retries"] >= 1  # the race was met: a GET found another version there
    assert set(reader["counts"]) <= set(versions), reader["counts"]
    assert all(reader["counts"].get(v, 0) >= 3 for v in versions), reader["counts"]
    assert all(writer["counts"].get(str(move), 0) >= 2 for move in range(4)), writer["counts"]


# ------------------------------------------------------------- filesystem backend only


def put_back(data: Path, path: Path) -> None:
    """Rename a kept data file over `path` (through a new link: `data` stays), as a
    writer renames its data into place; a rename keeps the inode, size and mtime."""
    os.link(data, path.with_name(".put-back"))
    os.replace(path.with_name(".put-back"), path)


def two_versions(backend: Backend, tmp_path: Path) -> tuple[DeltaService, Path, Path, Path]:
    """`notes.txt` written twice on the filesystem backend, the data files of both
    versions kept beside (hard links); the second version in place. Returns the
    service, the key's path and the two data files."""
    service = backend.service()
    assert isinstance(service.storage, LocalFilesystemStorage)
    path = service.storage.root / backend.bucket / "notes.txt"
    key = ObjectKey(backend.bucket, "notes.txt")
    put_file(service, random_file(tmp_path / "one.txt", 30_000, 1), key)
    os.link(path, tmp_path / "data-one")
    put_file(service, random_file(tmp_path / "two.txt", 31_000, 2), key)
    os.link(path, tmp_path / "data-two")
    return service, path, tmp_path / "data-one", tmp_path / "data-two"


@pytest.mark.parametrize("backend", ["file"], indirect=True)
def test_a_head_between_a_writers_two_renames_waits_for_the_data(
    backend: Backend, tmp_path: Path
) -> None:
    """The second version's sidecar is in place and its data not yet (the first data
    file is put back), as between a writer's two renames: a HEAD must not pair them,
    and once the data follows, HEAD and GET give the second version."""
    service, path, data_one, data_two = two_versions(backend, tmp_path)
    second = (tmp_path / "two.txt").read_bytes()
    put_back(data_one, path)
    finishing = threading.Timer(0.1, put_back, (data_two, path))
    finishing.start()
    info = service.storage.head(backend.bucket, "notes.txt")
    finishing.join()
    assert info is not None
    assert (info.size, info.metadata["dg-file-size"]) == (31_000, "31000")

    put_back(data_one, path)
    finishing = threading.Timer(0.1, put_back, (data_two, path))
    finishing.start()
    service.get(ObjectKey(backend.bucket, "notes.txt"), tmp_path / "out")
    finishing.join()
    assert (tmp_path / "out").read_bytes() == second
