"""Multipart uploads staged in the store (core/multipart.py), over the in-memory store:
what is staged, what completing stores and removes, the checks on the part list, and a
staged part damaged in the store."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from deltaglider.core.attributes import Attributes
from deltaglider.core.errors import IntegrityError, InvalidPart, UploadNotFound
from deltaglider.core.models import ObjectKey, StoredAs
from deltaglider.core.multipart import MIN_PART, Multipart, Part, multipart_etag
from tests.artifacts import release_zip
from tests.fakes import collect, make_service

KEY = ObjectKey("bucket", "rel/app.zip")


def stage(uploads: Multipart, upload: object, number: int, data: bytes) -> Part:
    with uploads.service.spool(io.BytesIO(data)) as spooled:
        return uploads.stage(upload, number, spooled)  # type: ignore[arg-type]


def test_completing_stores_one_object_and_removes_the_upload() -> None:
    service, storage, _ = make_service()
    uploads = Multipart(service)
    upload = uploads.create(KEY, Attributes(content_type="application/zip",
                                            user_metadata={"b": "1"}), "me")  # fmt: skip
    again = Multipart(make_service(storage)[0]).find(KEY, upload.upload_id)  # another process
    assert (again.key, again.owner, again.attributes.content_type) == (
        KEY.key, "me", "application/zip")  # fmt: skip
    data = [b"a" * MIN_PART, b"b" * MIN_PART, b"end"]
    parts = [stage(uploads, upload, n, d) for n, d in enumerate(data, 1)]
    assert [p.number for p in uploads.parts(upload)] == [1, 2, 3]

    chosen = uploads.chosen(upload, [(p.number, p.etag) for p in parts])
    result = uploads.complete(upload, chosen)

    joined = b"".join(hashlib.md5(d).digest() for d in data)
    assert result.etag == f'"{hashlib.md5(joined).hexdigest()}-3"'
    head = service.head(KEY)
    assert (head.etag, head.part_sizes, head.content_type) == (
        result.etag, (MIN_PART, MIN_PART, 3), "application/zip")  # fmt: skip
    with service.open(KEY) as stream:
        assert stream.read() == b"".join(data)
    assert list(storage.list("bucket", ".dg-mp")) == []
    with pytest.raises(UploadNotFound):
        uploads.find(KEY, upload.upload_id)


def test_the_part_list_is_checked_as_s3_checks_it() -> None:
    service, _, _ = make_service()
    uploads = Multipart(service)
    upload = uploads.create(KEY, Attributes(), "me")
    small = stage(uploads, upload, 1, b"small")
    last = stage(uploads, upload, 2, b"last")
    for wanted, code in (
        ([(1, small.etag), (2, last.etag)], "EntityTooSmall"),
        ([(2, last.etag), (1, small.etag)], "InvalidPartOrder"),
        ([(1, last.etag), (1, small.etag), (2, last.etag)], "EntityTooSmall"),
        ([(1, small.etag), (1, last.etag)], "InvalidPart"),
        ([(1, last.etag)], "InvalidPart"),
        ([(9, last.etag)], "InvalidPart"),
    ):
        with pytest.raises(InvalidPart) as caught:
            uploads.chosen(upload, wanted)
        assert caught.value.code == code
    [chosen] = uploads.chosen(upload, [(2, last.etag.strip('"'))])
    assert (chosen.number, chosen.md5, chosen.size) == (2, last.md5, 4)
    with pytest.raises(UploadNotFound):
        uploads.find(ObjectKey("bucket", "other"), upload.upload_id)
    with pytest.raises(UploadNotFound):
        uploads.find(KEY, "../escape")


def test_a_part_replaced_in_the_store_is_never_completed() -> None:
    """A staged part whose bytes no longer match its recorded MD5 (damage in the store)."""
    service, storage, _ = make_service()
    uploads = Multipart(service)
    upload = uploads.create(KEY, Attributes(), "me")
    part = stage(uploads, upload, 1, b"original")
    staged_key = f".dg-mpp-{upload.upload_id}-00001"
    meta = dict(storage.head("bucket", staged_key).metadata)  # type: ignore[union-attr]
    storage.upload("bucket", staged_key, b"damaged!", meta)
    with pytest.raises(IntegrityError):
        uploads.complete(upload, uploads.chosen(upload, [(1, part.etag)]))
    assert service.list_page("bucket").entries == []
    assert uploads.find(KEY, upload.upload_id) == upload  # still there to retry or abort


def test_completed_release_parts_become_a_delta(tmp_path: Path) -> None:
    """A completed upload goes through the same store() as any upload."""
    service, _, _ = make_service()
    uploads = Multipart(service)
    paths = [release_zip(tmp_path / f"app-{v}.zip", v, files=2, file_size=MIN_PART)
             for v in range(2)]  # fmt: skip
    for path in paths:
        key = ObjectKey("bucket", f"rel/{path.name}")
        upload = uploads.create(key, Attributes(), "me")
        data = path.read_bytes()
        pieces = [data[i : i + MIN_PART] for i in range(0, len(data), MIN_PART)]
        parts = [stage(uploads, upload, n, d) for n, d in enumerate(pieces, 1)]
        uploads.complete(upload, parts)
        assert service.head(key).etag == f'"{multipart_etag([p.md5 for p in parts])}"'
    second = service.head(ObjectKey("bucket", f"rel/{paths[1].name}"))
    assert second.part_sizes == (MIN_PART, MIN_PART, second.size - 2 * MIN_PART)
    assert second.stored_as is StoredAs.DELTA  # (how small: the real codec's, in e2e tests)


def test_gc_removes_parts_staged_for_an_upload_that_is_gone_and_only_those() -> None:
    """A part that arrives while its upload is aborted (or completed) is staged after
    the upload's objects were removed: nothing lists or removes it but gc, once it is
    older than the grace period. A live upload's parts stay, however old."""
    service, storage, _ = make_service()
    uploads = Multipart(service)
    live = uploads.create(KEY, Attributes(), "me")
    stage(uploads, live, 1, b"a live upload's part")
    gone = uploads.create(KEY, Attributes(), "me")
    uploads.abort(gone)
    stage(uploads, gone, 1, b"came late")  # the late part
    late = f".dg-mpp-{gone.upload_id}-00001"
    assert storage.head("bucket", late) is not None

    kept = collect(service, grace=3600)
    assert [(item.key, item.what) for item in kept.scheduled] == [(late, "part")]
    assert kept.removed == []
    done = collect(service)
    assert [(item.key, item.what) for item in done.removed] == [(late, "part")]
    assert storage.head("bucket", late) is None
    assert [p.number for p in uploads.parts(live)] == [1]
    assert uploads.find(KEY, live.upload_id) == live
