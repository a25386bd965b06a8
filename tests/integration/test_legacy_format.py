"""Buckets written by the original DeltaGlider read back byte-identical.

The objects are built here from that tool's documented format: `{prefix}/reference.bin`
with `dg-source-name` and `dg-note: reference`; `{name}.delta` objects made by
`xdelta3 -e -9 -s reference.bin FILE FILE.delta` with `dg-ref-key`, `dg-ref-sha256`,
`dg-delta-cmd`, ...; direct objects with `dg-compression: none`; and the 0.x form of
the same fields without the `dg-` prefix and with underscores.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from deltaglider.core.models import LogicalObject, ObjectKey
from tests.artifacts import release_zip
from tests.conftest import Backend
from tests.fakes import put_file

PREFIX = "ror/es/1.64.2"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def legacy_delta(reference: Path, target: Path, out: Path) -> Path:
    """A delta exactly as 6.x made it (xdelta3 -9, default secondary compression)."""
    subprocess.run(["xdelta3", "-e", "-9", "-f", "-s", reference, target, out], check=True)
    return out


def v6_delta_metadata(target: Path, reference: Path, delta: Path) -> dict[str, str]:
    return {
        "dg-tool": "deltaglider/6.1.2",
        "dg-original-name": target.name,
        "dg-file-sha256": sha(target),
        "dg-file-size": str(target.stat().st_size),
        "dg-created-at": "2025-09-21T12:05:00.123456Z",
        "dg-ref-key": f"{PREFIX}/reference.bin",
        "dg-ref-sha256": sha(reference),
        "dg-delta-size": str(delta.stat().st_size),
        "dg-delta-cmd": f"xdelta3 -e -9 -s reference.bin {target.name} {target.name}.delta",
    }


def v0_delta_metadata(target: Path, reference: Path, delta: Path) -> dict[str, str]:
    return {
        "tool": "deltaglider/0.1.0",
        "original_name": target.name,
        "file_sha256": sha(target),
        "file_size": str(target.stat().st_size),
        "created_at": "2025-09-21T12:05:00Z",
        "ref_key": f"{PREFIX}/reference.bin",
        "ref_sha256": sha(reference),
        "delta_size": str(delta.stat().st_size),
        "delta_cmd": "xdelta3 -e -9 -s reference.bin <file> <file>.delta",
    }


@pytest.fixture
def legacy_bucket(backend: Backend, tmp_path: Path) -> dict[str, Path]:
    """A bucket laid out by DeltaGlider 6.x (and a 0.x delta beside), via raw storage."""
    storage = backend.storage()
    files = {
        name: release_zip(tmp_path / name, v, files=10, file_size=30_000)
        for v, name in enumerate(["app-es7.zip", "app-es8.zip", "app-es9.zip"])
    }
    reference = files["app-es7.zip"]
    storage.upload(
        backend.bucket,
        f"{PREFIX}/reference.bin",
        reference,
        {
            "dg-tool": "deltaglider/6.1.2",
            "dg-source-name": reference.name,
            "dg-file-sha256": sha(reference),
            "dg-created-at": "2025-09-21T12:00:00.000001Z",
            "dg-note": "reference",
        },
    )
    for name, target in files.items():
        delta = legacy_delta(reference, target, tmp_path / f"{name}.delta")
        writer = v0_delta_metadata if name == "app-es9.zip" else v6_delta_metadata
        meta = writer(target, reference, delta)
        if name == reference.name:
            meta["dg-note"] = "zero-diff (reference identical)"
        storage.upload(backend.bucket, f"{PREFIX}/{name}.delta", delta, meta)
    notes = tmp_path / "app.zip.sha1"
    notes.write_text("da39a3ee5e6b4b0d3255bfef95601890afd80709  app-es7.zip\n")
    storage.upload(
        backend.bucket,
        f"{PREFIX}/{notes.name}",
        notes,
        {
            "dg-tool": "deltaglider/6.1.2",
            "dg-original-name": notes.name,
            "dg-file-sha256": sha(notes),
            "dg-file-size": str(notes.stat().st_size),
            "dg-created-at": "2025-09-21T12:00:00Z",
            "dg-compression": "none",
        },
    )
    files[notes.name] = notes
    return files


def test_legacy_objects_read_back_byte_identical(
    backend: Backend, legacy_bucket: dict[str, Path], tmp_path: Path
) -> None:
    service = backend.service()
    for name, original in legacy_bucket.items():
        out = tmp_path / "restored" / name
        result = service.get(ObjectKey(backend.bucket, f"{PREFIX}/{name}"), out)
        assert out.read_bytes() == original.read_bytes(), name
        assert result.sha256 == sha(original)
        assert service.verify(ObjectKey(backend.bucket, f"{PREFIX}/{name}")).ok


def test_legacy_bucket_lists_logically(backend: Backend, legacy_bucket: dict[str, Path]) -> None:
    listed = {
        entry.key: entry.size
        for entry in backend.service().list(backend.bucket, f"{PREFIX}/")
        if isinstance(entry, LogicalObject)
    }
    assert listed == {f"{PREFIX}/{n}": p.stat().st_size for n, p in legacy_bucket.items()}


def test_new_uploads_join_a_legacy_delta_space(
    backend: Backend, legacy_bucket: dict[str, Path], tmp_path: Path
) -> None:
    service = backend.service()
    newer = release_zip(tmp_path / "app-es10.zip", 7, files=10, file_size=30_000)
    result = put_file(service, newer, ObjectKey(backend.bucket, f"{PREFIX}/app-es10.zip"))
    assert not result.created_reference
    assert result.stored_size < result.file_size / 10
    out = tmp_path / "app-es10.out"
    backend.service().get(ObjectKey(backend.bucket, f"{PREFIX}/app-es10.zip"), out)
    assert out.read_bytes() == newer.read_bytes()


def test_head_get_and_list_agree_on_legacy_objects(
    backend: Backend, legacy_bucket: dict[str, Path]
) -> None:
    """Objects written before ETags were recorded: a delta shows an ETag made from its
    SHA256 (in the multipart form, so no client takes it for an MD5), a direct object
    the store's own; the same through HEAD, GET and LIST."""
    service = backend.service()
    listed = {
        entry.key: entry
        for entry in service.list(backend.bucket, f"{PREFIX}/")
        if isinstance(entry, LogicalObject)
    }
    for name, original in legacy_bucket.items():
        key = ObjectKey(backend.bucket, f"{PREFIX}/{name}")
        head = service.head(key)
        with service.open(key) as stream:
            assert stream.read() == original.read_bytes()
            got = stream.info
        seen = {(e.size, e.etag, e.last_modified) for e in (listed[key.key], head, got)}
        assert seen == {(original.stat().st_size, head.etag, head.last_modified)}, name
        if name.endswith(".zip"):
            assert head.etag == f'"{sha(original)[:32]}-1"'
        assert head.user_metadata == {}  # 0.x's bare keys are DeltaGlider's, not the user's
