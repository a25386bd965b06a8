"""Copy inside the store where an object is stored whole; delete many in one go."""

from __future__ import annotations

import io
from pathlib import Path

from deltaglider.core.attributes import Attributes
from deltaglider.core.models import ObjectKey, StoredAs
from tests.artifacts import release_zip
from tests.fakes import collect, make_service, put_file


def key(name: str) -> ObjectKey:
    return ObjectKey("bucket", name)


def test_an_object_stored_whole_is_copied_inside_the_store(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    notes = b"release notes\n" * 500
    service.put(key("a/NOTES.txt"), io.BytesIO(notes), content_type="text/plain",
                user_metadata={"build": "7"})  # fmt: skip
    uploads = storage.calls.get("upload", 0)

    result = service.copy(key("a/NOTES.txt"), key("b/NOTES.txt"))

    assert (result.reason, result.stored_as) == ("copied inside the store", StoredAs.DIRECT)
    assert storage.calls.get("upload", 0) == uploads  # no byte went up again
    assert storage.calls["copy"] == 1
    head = service.head(key("b/NOTES.txt"))
    assert (head.content_type, head.user_metadata) == ("text/plain", {"build": "7"})
    assert head.etag == service.head(key("a/NOTES.txt")).etag == result.etag
    with service.open(key("b/NOTES.txt")) as stream:
        assert stream.read() == notes


def test_a_copy_may_replace_the_metadata(tmp_path: Path) -> None:
    service, _, _ = make_service()
    service.put(key("a/NOTES.txt"), io.BytesIO(b"x" * 3000), user_metadata={"old": "1"})
    service.copy(
        key("a/NOTES.txt"), key("a/COPY.txt"), replace=Attributes(user_metadata={"new": "2"})
    )
    assert service.head(key("a/COPY.txt")).user_metadata == {"new": "2"}


def test_a_delta_is_read_checked_and_stored_anew(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    builds = [release_zip(tmp_path / f"app-{v}.zip", v) for v in range(2)]
    for path in builds:
        put_file(service, path, key(f"a/{path.name}"))

    result = service.copy(key("a/app-1.zip"), key("b/app-1.zip"))

    assert result.stored_as is StoredAs.DELTA
    assert result.created_reference
    assert "copy" not in storage.calls
    out = tmp_path / "out.zip"
    make_service(storage)[0].get(key("b/app-1.zip"), out)
    assert out.read_bytes() == builds[1].read_bytes()


def test_delete_many_takes_every_form_and_no_head(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    names = ["a/app-0.zip", "a/NOTES.txt", "a/.dg-index.json", "a/never-there.zip"]
    put_file(service, release_zip(tmp_path / "app-0.zip", 0), key(names[0]))
    service.put(key(names[1]), io.BytesIO(b"notes\n" * 300))
    service.put(key(names[2]), io.BytesIO(b'{"mine": 1}\n'))  # a user's file of that name
    heads = storage.calls.get("head", 0)

    results = service.delete_many("bucket", names)

    assert results == [(name, None) for name in names]
    assert storage.calls.get("head", 0) == heads
    assert set(storage.buckets["bucket"]) == {"a/reference.bin"}  # references go by gc
    assert [item.key for item in collect(service).removed] == ["a/reference.bin"]
