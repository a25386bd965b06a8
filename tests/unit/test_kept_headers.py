"""The headers S3 keeps with an object (Cache-Control and the like) and the part sizes of
a multipart upload, as HEAD and GET show them, whether the object is a delta or whole."""

from __future__ import annotations

import io
from pathlib import Path

from deltaglider.core.attributes import Attributes, read_attributes
from deltaglider.core.models import ObjectKey, StoredAs
from tests.artifacts import release_zip
from tests.fakes import make_service

KEPT = {
    "cache-control": "max-age=3600, public",
    "content-disposition": 'attachment; filename="app 1.zip"',
    "content-encoding": "identity",
    "content-language": "en-GB",
    "expires": "Thu, 01 Dec 2033 16:00:00 GMT",
}


def key(name: str) -> ObjectKey:
    return ObjectKey("bucket", name)


def test_kept_headers_come_back_on_a_delta_and_on_a_whole_object(tmp_path: Path) -> None:
    service, _, _ = make_service()
    for version in range(2):
        build = release_zip(tmp_path / f"app-{version}.zip", version)
        service.put(key(f"r/app-{version}.zip"), build.open("rb"), headers=KEPT)
    service.put(key("r/NOTES.txt"), io.BytesIO(b"notes\n" * 100), headers={"Cache-Control": "no"})

    delta = service.head(key("r/app-1.zip"))
    whole = service.head(key("r/NOTES.txt"))

    assert delta.stored_as is StoredAs.DELTA
    assert delta.headers == KEPT
    assert whole.headers == {"cache-control": "no"}
    with service.open(key("r/app-1.zip")) as stream:
        assert stream.info.headers == KEPT
    assert delta.user_metadata == {}  # kept headers are not the user's metadata


def test_headers_s3_does_not_keep_are_not_stored() -> None:
    meta = Attributes(headers={"x-frame-options": "DENY", "Expires": "0"}).to_metadata()
    assert meta == {"dg-expires": "0"}
    assert read_attributes(meta).headers == {"expires": "0"}


def test_copies_keep_the_headers_or_replace_them(tmp_path: Path) -> None:
    service, _, _ = make_service()
    service.put(key("a/NOTES.txt"), io.BytesIO(b"x" * 3000), headers={"cache-control": "a"})
    service.copy(key("a/NOTES.txt"), key("b/NOTES.txt"))
    service.copy(
        key("a/NOTES.txt"), key("c/NOTES.txt"), replace=Attributes(headers={"expires": "0"})
    )
    build = release_zip(tmp_path / "app.zip", 1)
    service.put(key("a/app.zip"), build.open("rb"), headers={"content-language": "fr"})
    service.copy(key("a/app.zip"), key("b/app.zip"))

    assert service.head(key("b/NOTES.txt")).headers == {"cache-control": "a"}
    assert service.head(key("c/NOTES.txt")).headers == {"expires": "0"}
    assert service.head(key("b/app.zip")).headers == {"content-language": "fr"}


def test_part_sizes_of_a_multipart_upload_are_shown(tmp_path: Path) -> None:
    service, _, _ = make_service()
    sizes = (5 * 2**20, 5 * 2**20, 1000)
    with service.spool(io.BytesIO(b"p" * sum(sizes))) as spooled:
        service.store(key("big.bin"), spooled, etag="0" * 32 + "-3", part_sizes=sizes)
    head = service.head(key("big.bin"))
    assert head.part_sizes == sizes
    assert head.etag == '"' + "0" * 32 + '-3"'
