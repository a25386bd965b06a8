"""Writes a release series of a made-up application, `myapp-1.0.N.zip`, into a folder.

Each build looks like a real one: compiled classes, a native library, resources and a
manifest, zipped with deflate. Consecutive versions change a few classes and the
manifest, and now and then add a class, as day-to-day builds do.
"""

from __future__ import annotations

import io
import json
import random
import sys
import zipfile
from pathlib import Path

STAMP = (2026, 11, 1, 12, 0, 0)


def _class_bytes(rng: random.Random, name: str, size: int) -> bytes:
    words = [b"java/lang/Object", b"java/util/List", name.encode(), b"<init>", b"toString"]
    body = bytearray(b"\xca\xfe\xba\xbe\x00\x00\x00\x41")
    while len(body) < size:
        body += rng.choice(words) if rng.random() < 0.3 else rng.randbytes(rng.randint(4, 40))
    return bytes(body[:size])


def build(version: int, seed_sources: dict[str, bytes]) -> bytes:
    rng = random.Random(version)
    sources = dict(seed_sources)
    for name in rng.sample(sorted(sources), 2):  # two classes change in every build
        body = bytearray(sources[name])
        start = rng.randrange(0, len(body) - 200)
        body[start : start + 120] = rng.randbytes(120)
        sources[name] = bytes(body)
    for extra in range(version // 2):  # a new class every other build
        name = f"com/example/myapp/feature/Feature{extra}.class"
        sources[name] = _class_bytes(random.Random(1000 + extra), name, 8_000)
    manifest = f"Manifest-Version: 1.0\nImplementation-Version: 1.0.{version}\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("META-INF/MANIFEST.MF", STAMP), manifest)
        for name in sorted(sources):
            archive.writestr(zipfile.ZipInfo(name, STAMP), sources[name])
        settings = {"version": f"1.0.{version}", "features": version // 2, "debug": False}
        archive.writestr(zipfile.ZipInfo("config/settings.json", STAMP), json.dumps(settings))
    return buffer.getvalue()


def main(folder: Path, versions: int = 8) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(42)
    seed_sources = {
        f"com/example/myapp/module{i // 10}/Class{i:03d}.class": _class_bytes(
            rng, f"Class{i:03d}", rng.randint(10_000, 60_000)
        )
        for i in range(60)
    }
    seed_sources["lib/linux-x86_64/libmyapp.so"] = rng.randbytes(1_500_000)
    for version in range(versions):
        path = folder / f"myapp-1.0.{version}.zip"
        path.write_bytes(build(version, seed_sources))
        print(f"built {path.name} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
