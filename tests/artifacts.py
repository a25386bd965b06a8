"""Real-looking release artifacts made on the spot: zips and sdists of a project whose
versions differ a little, as builds do."""

from __future__ import annotations

import io
import random
import tarfile
import zipfile
from pathlib import Path


def release_zip(path: Path, version: int, *, files: int = 8, file_size: int = 3_000) -> Path:
    """A zip of `files` modules; version N changes module N and the VERSION file."""
    rng = random.Random(1234)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(files):
            body = bytearray(rng.randbytes(file_size // 2) + bytes(file_size // 2))
            if index == version % files:
                body[100:140] = f"patched in version {version}".encode().ljust(40, b".")
            info = zipfile.ZipInfo(f"app/module_{index:02d}.bin", date_time=(2026, 1, 1, 0, 0, 0))
            archive.writestr(info, bytes(body))
        info = zipfile.ZipInfo("app/VERSION", date_time=(2026, 1, 1, 0, 0, 0))
        archive.writestr(info, f"1.{version}.0\n")
    path.write_bytes(buffer.getvalue())
    return path


def random_file(path: Path, size: int, seed: int = 0) -> Path:
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def sdist(path: Path, version: int) -> Path:
    """A .tar.gz as setuptools writes one (tarfile + gzip, level 9); versions differ a bit."""
    rng = random.Random(5)
    with tarfile.open(path, "w:gz") as archive:
        for index in range(40):
            body = " ".join(f"word{rng.randrange(5000)}" for _ in range(2000)).encode()
            if index == version:
                body += f"\nchanged in {version}\n".encode()
            info = tarfile.TarInfo(f"pkg-{version}/module_{index}.py")
            info.size, info.mtime = len(body), 1_700_000_000
            archive.addfile(info, io.BytesIO(body))
    return path
