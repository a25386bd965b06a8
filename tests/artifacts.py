"""Real-looking release artifacts made on the spot: zips of a project whose versions
differ a little, as builds do."""

from __future__ import annotations

import io
import random
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
