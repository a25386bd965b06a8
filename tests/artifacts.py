"""Real-looking release artifacts made on the spot: zips and sdists of a project whose
versions differ a little, as builds do."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import struct
import tarfile
import zipfile
import zlib
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


def sdist(path: Path, version: int, *, crlf: bool = False, product: int = 5) -> Path:
    """A .tar.gz as setuptools writes one (tarfile + gzip, level 9); versions differ a bit.
    `crlf`: built by another hand, every line ending a CRLF; `product`: another
    product's sources altogether."""
    rng = random.Random(product)
    with tarfile.open(path, "w:gz") as archive:
        for index in range(40):
            words = (f"word{rng.randrange(5000)}" for _ in range(2000))
            body = (" \r\n" if crlf else " ").join(words).encode()
            if index == version:
                body += f"\nchanged in {version}\n".encode()
            info = tarfile.TarInfo(f"pkg-{version}/module_{index}.py")
            info.size, info.mtime = len(body), 1_700_000_000
            archive.addfile(info, io.BytesIO(body))
    return path


def source_text(seed: int, size: int, vocabulary: int = 2000) -> bytes:
    """Source-code-like bytes: a small vocabulary, so deflate finds matches and choices."""
    rng = random.Random(seed)
    words = [rng.randbytes(rng.randint(2, 9)).hex().encode() for _ in range(vocabulary)]
    out = io.BytesIO()
    while out.tell() < size:
        out.write(b" ".join(rng.choices(words, k=12)) + b"\n")
    return out.getvalue()[:size]


def _patched(body: bytes, version: int, index: int, every: int) -> bytes:
    """Module `index`'s body in `version`: one module in `every` changes per version."""
    if index % every != version % every:
        return body
    mark = f"# changed in version {version}\n".encode()
    return body[:500] + mark + body[500:]


def _entry(name: str) -> zipfile.ZipInfo:
    """A zip entry, deflated unless written with another method."""
    info = zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


class _Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes data descriptors after each entry."""

    def __init__(self, sink: io.BytesIO) -> None:
        self.sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self.sink.write(data)


def wheel(path: Path, version: int, *, modules: int = 24) -> Path:
    """A wheel as `wheel` builds one: deflated modules (level 6), a stored blob, a data
    file that is itself gzip (level 9), and a RECORD that changes every version."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        record = []
        for index in range(modules):
            body = _patched(source_text(index, 6_000 + 400 * index), version, index, 5)
            name = f"pkg/module_{index:02d}.py"
            archive.writestr(_entry(name), body, zipfile.ZIP_DEFLATED)
            record.append(f"{name},sha256={hashlib.sha256(body).hexdigest()},{len(body)}")
        blob = random.Random(99).randbytes(20_000)
        archive.writestr(_entry("pkg/_native.bin"), blob, zipfile.ZIP_STORED)
        table = source_text(500, 80_000) + f"\nversion {version}\n".encode()
        packed = gzip.compress(table, 9, mtime=0)
        archive.writestr(_entry("pkg/data/table.json.gz"), packed)
        meta = f"Metadata-Version: 2.1\nName: pkg\nVersion: 1.{version}\n"
        archive.writestr(_entry(f"pkg-1.{version}.dist-info/METADATA"), meta)
        archive.writestr(_entry(f"pkg-1.{version}.dist-info/RECORD"), "\n".join(record))
    return path


def jar(path: Path, version: int, *, classes: int = 16) -> Path:
    """A jar-like zip written to a stream that cannot seek (so every entry has a data
    descriptor): a stored manifest, deflated classes, a nested library jar (stored, with
    its own deflated entries), a nested `.tar.gz`, and an archive comment."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as lib:
        for index in range(6):
            body = _patched(source_text(700 + index, 9_000), version, index, 3)
            lib.writestr(_entry(f"lib/Util{index}.class"), body)
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w:gz") as tar:
        for index in range(4):
            body = _patched(source_text(800 + index, 12_000), version, index, 2)
            info = tarfile.TarInfo(f"res-1.{version}/file{index}.txt")
            info.size, info.mtime = len(body), 1_700_000_000
            tar.addfile(info, io.BytesIO(body))
    sink = io.BytesIO()
    with zipfile.ZipFile(_Unseekable(sink), "w", zipfile.ZIP_DEFLATED) as archive:
        manifest = f"Manifest-Version: 1.0\nImplementation-Version: 1.{version}\n"
        archive.writestr(_entry("META-INF/MANIFEST.MF"), manifest, zipfile.ZIP_STORED)
        for index in range(classes):
            body = _patched(source_text(600 + index, 7_000), version, index, 4)
            archive.writestr(_entry(f"app/Main{index}.class"), body)
        archive.writestr(_entry("lib/util.jar"), inner.getvalue(), zipfile.ZIP_STORED)
        archive.writestr(_entry("res/resources.tar.gz"), tarball.getvalue())
        archive.comment = f"built for 1.{version}".encode()
    path.write_bytes(sink.getvalue())
    return path


def zip_of_zips(path: Path, version: int, *, inner: int = 4) -> Path:
    """An outer zip of deflated inner zips, each of deflated modules (a bundle of
    plugins, say): one inner module changes per version."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as outer:
        for plugin in range(inner):
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as zipped:
                for index in range(5):
                    body = source_text(1000 + 10 * plugin + index, 8_000)
                    if plugin == version % inner and index == 0:
                        body = _patched(body, version, 0, 1)
                    zipped.writestr(_entry(f"p{plugin}/m{index}.py"), body, compresslevel=9)
            outer.writestr(_entry(f"plugins/p{plugin}.zip"), buffer.getvalue())
    return path


def zip64(path: Path, version: int) -> Path:
    """A small zip in zip64 form (as tools write for archives over 4 GiB or 65,535
    entries): sizes and offsets of 0xFFFFFFFF in the central directory with a zip64 extra
    field, a zip64 end of central directory record and its locator."""
    entries = [
        (f"data/part{index}.txt", _patched(source_text(1200 + index, 10_000), version, index, 3))
        for index in range(5)
    ]
    out = io.BytesIO()
    central = io.BytesIO()
    for name, body in entries:
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = packer.compress(body) + packer.flush()
        crc, raw_name, offset = zlib.crc32(body), name.encode(), out.tell()
        extra = struct.pack("<HHQQ", 1, 16, len(body), len(packed))
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 45, 0, 8, 0, 0x21, crc,
                              0xFFFFFFFF, 0xFFFFFFFF, len(raw_name), len(extra)))  # fmt: skip
        out.write(raw_name + extra + packed)
        extra = struct.pack("<HHQQQ", 1, 24, len(body), len(packed), offset)
        central.write(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 45, 45, 0, 8, 0, 0x21,
                                  crc, 0xFFFFFFFF, 0xFFFFFFFF, len(raw_name), len(extra), 0, 0,
                                  0, 0, 0xFFFFFFFF))  # fmt: skip
        central.write(raw_name + extra)
    start, directory = out.tell(), central.getvalue()
    out.write(directory)
    end = out.tell()
    out.write(struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, len(entries),
                          len(entries), len(directory), start))  # fmt: skip
    out.write(struct.pack("<4sIQI", b"PK\x06\x07", 0, end, 1))
    out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                          0xFFFFFFFF, 0))  # fmt: skip
    path.write_bytes(out.getvalue())
    return path


def zip_of_streams(path: Path, entries: list[tuple[str, int, bytes, bytes]]) -> Path:
    """A zip written by hand around entries given as (name, method, bytes as stored,
    content): for deflate bytes that zipfile would not write itself."""
    out = io.BytesIO()
    central = io.BytesIO()
    for name, method, packed, content in entries:
        raw_name, offset, crc = name.encode(), out.tell(), zlib.crc32(content)
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc,
                              len(packed), len(content), len(raw_name), 0))  # fmt: skip
        out.write(raw_name + packed)
        central.write(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0,
                                  0x21, crc, len(packed), len(content), len(raw_name), 0, 0, 0,
                                  0, 0, offset))  # fmt: skip
        central.write(raw_name)
    start, directory = out.tell(), central.getvalue()
    out.write(directory)
    out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                          len(directory), start, 0))  # fmt: skip
    path.write_bytes(out.getvalue())
    return path
