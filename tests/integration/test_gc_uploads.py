"""Incomplete uploads left by killed processes: `gc` aborts those of DeltaGlider's own
keys once they have not moved for the grace period, and never a user's own.

Each upload is begun as a process killed mid-way leaves it: on S3 a multipart upload
begun with boto3 against the server (a part stored, or none yet), never completed; on
the filesystem the temporary file a write had not renamed into place yet.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from deltaglider.adapters.localfs import LocalFilesystemStorage
from deltaglider.app.cli.main import run
from deltaglider.core.fsck import Problem, check, repair
from tests.conftest import Backend, make_backend, raw_client

PART = b"p" * (1024 * 1024)  # a stored part: what costs money


def begin(backend: Backend, key: str, part: bytes | None = PART) -> None:
    """An upload of `key` as a process killed mid-way leaves it."""
    if backend.name == "file":
        path = Path(backend.endpoint.removeprefix("file://")) / backend.bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        LocalFilesystemStorage._temp(path).write_bytes(part or b"")
        return
    client = raw_client(backend.env)
    started = client.create_multipart_upload(Bucket=backend.bucket, Key=key)  # type: ignore[attr-defined]
    if part is not None:
        client.upload_part(Bucket=backend.bucket, Key=key, UploadId=started["UploadId"],  # type: ignore[attr-defined]
                           PartNumber=1, Body=part)  # fmt: skip


def pending(backend: Backend) -> list[str]:
    """The keys of the uploads left in the bucket, seen without DeltaGlider's code."""
    if backend.name == "file":
        root = Path(backend.endpoint.removeprefix("file://")) / backend.bucket
        return sorted(
            f"{path.parent.relative_to(root).as_posix()}/{path.name}"
            for path in root.rglob(".*.dg-tmp-*")
        )
    found = raw_client(backend.env).list_multipart_uploads(Bucket=backend.bucket)  # type: ignore[attr-defined]
    return sorted(upload["Key"] for upload in found.get("Uploads", []))


def as_listed(backend: Backend, keys: list[str]) -> list[str]:
    """`pending`'s names for uploads of these keys (on the filesystem, the temp file's)."""
    if backend.name != "file":
        return sorted(keys)
    found = []
    for key in keys:
        folder, name = key.rsplit("/", 1)
        found.append(f"{folder}/.{name}.dg-tmp-")
    return sorted(found)


def matches(listed: list[str], expected: list[str]) -> bool:
    return len(listed) == len(expected) and all(
        name.startswith(prefix) for name, prefix in zip(listed, expected, strict=True)
    )


OURS = [
    "rel/reference-0123456789abcdef.bin",  # a reference (the costly one: many GB)
    "rel/app-2.0.zip.delta",  # a delta
    "rel/sub/reference.bin",  # a reference in a DeltaSpace below
]
THEIRS = [
    "rel/video.mp4",  # a user's own multipart upload, through plain S3
    "other/reference.bin",  # ours, but outside the prefix collected
]


PROBE = "rel/.dg-probe-0123456789abcdef"  # a probe's upload, killed before its part


def test_gc_aborts_our_abandoned_uploads_and_never_a_users(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in OURS + THEIRS:
        begin(backend, key)
    begin(backend, PROBE, part=None)
    capsys.readouterr()

    # Within the grace period: they stay (on moto too, which dates every upload 2010:
    # their parts are recent), but for the probe's on moto, which has no part to date it.
    assert run(["gc", f"s3://{backend.bucket}/rel/", "--grace", "1h"]) == 0
    out = capsys.readouterr().out
    for key in OURS:
        assert re.search(rf"^kept: s3://{backend.bucket}/{re.escape(key)} \(incomplete upload ",
                         out, re.MULTILINE), out  # fmt: skip
    assert "video.mp4" not in out
    ours = OURS + ([] if backend.name == "moto" else [PROBE])
    assert matches(pending(backend), as_listed(backend, ours + THEIRS))

    assert run(["gc", f"s3://{backend.bucket}/rel/", "--grace", "0", "--dryrun"]) == 0
    out = capsys.readouterr().out
    assert out.count("(dryrun) abort: ") == len(ours), out
    assert f"{len(ours)} incomplete upload(s) to abort" in out
    assert matches(pending(backend), as_listed(backend, ours + THEIRS))

    assert run(["gc", f"s3://{backend.bucket}/rel/", "--grace", "0"]) == 0
    out = capsys.readouterr().out
    assert f"{len(ours)} incomplete upload(s) aborted" in out, out
    assert "video.mp4" not in out
    assert matches(pending(backend), as_listed(backend, THEIRS))
    assert run(["gc", f"s3://{backend.bucket}/rel/", "--grace", "0"]) == 0
    assert "0 incomplete upload(s) aborted" in capsys.readouterr().out


def test_fsck_reports_abandoned_uploads_and_repair_aborts_them(backend: Backend) -> None:
    begin(backend, "rel/reference.bin")
    begin(backend, "rel/notes.pdf")  # not ours: not even reported
    service = backend.service()

    report = check(service, backend.bucket, "rel/", grace=timedelta(hours=1))
    assert report.findings == []
    assert [(item.key, item.what) for item in report.scheduled] == [("rel/reference.bin", "upload")]
    report = check(service, backend.bucket, "rel/", grace=timedelta(0))
    assert [(f.key, f.problem) for f in report.findings] == [("rel/reference.bin", Problem.UNUSED)]
    assert report.findings[0].detail.startswith("incomplete upload ")

    repair(service, backend.bucket, "rel/", report, grace=timedelta(0))
    assert report.repaired == report.findings
    assert matches(pending(backend), as_listed(backend, ["rel/notes.pdf"]))


def test_one_gc_aborts_the_old_upload_and_keeps_the_fresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the filesystem, where a write's age can be set: of two writes of references
    left part-way, the one three hours old goes, the one under way stays."""
    backend = make_backend("file", tmp_path, None, monkeypatch)
    begin(backend, "rel/reference.bin")
    (old,) = (Path(backend.endpoint.removeprefix("file://")) / backend.bucket).rglob(".*.dg-tmp-*")
    hours_ago = old.stat().st_mtime - 3 * 3600
    os.utime(old, (hours_ago, hours_ago))
    begin(backend, "rel/reference-0123456789abcdef.bin")
    capsys.readouterr()

    assert run(["gc", f"s3://{backend.bucket}/", "--grace", "1h"]) == 0
    out = capsys.readouterr().out
    assert (
        f"abort: s3://{backend.bucket}/rel/reference.bin (incomplete upload {old.name}, 1.0 MiB)"
        in out
    )
    assert matches(pending(backend), as_listed(backend, ["rel/reference-0123456789abcdef.bin"]))


def test_the_store_lists_measures_and_aborts_an_upload(backend: Backend) -> None:
    begin(backend, "rel/reference.bin")
    if backend.name == "file":  # a write killed after its sidecar's temporary file too
        path = Path(backend.endpoint.removeprefix("file://")) / backend.bucket / "rel/reference.bin"
        LocalFilesystemStorage._temp(LocalFilesystemStorage._meta_path(path)).write_text("{}")
    storage = backend.storage()
    assert list(storage.incomplete_uploads(backend.bucket, "other/")) == []
    found = list(storage.incomplete_uploads(backend.bucket, "rel/ref"))
    assert {upload.key for upload in found} == {"rel/reference.bin"}
    for upload in found:
        progress = storage.upload_progress(backend.bucket, upload.key, upload.upload_id)
        assert progress is not None
        assert progress.last_part is not None
        storage.abort_upload(backend.bucket, upload.key, upload.upload_id)
        # gone: finished or aborted by someone else meanwhile, which is no error
        assert storage.upload_progress(backend.bucket, upload.key, upload.upload_id) is None
        storage.abort_upload(backend.bucket, upload.key, upload.upload_id)
    assert list(storage.incomplete_uploads(backend.bucket, "")) == []
    assert pending(backend) == []
    if backend.name == "file":  # the folder the killed write made is gone with it
        assert (
            list((Path(backend.endpoint.removeprefix("file://")) / backend.bucket).iterdir()) == []
        )
