"""S3's limits (1,024-byte keys, 2 KB of user metadata): the metadata DeltaGlider writes
fits them whatever the key, and reads back whole."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from deltaglider.core.limits import KEY_LIMIT, METADATA_LIMIT, metadata_size
from deltaglider.core.metadata import (
    DeltaMeta,
    DirectMeta,
    ReferenceMeta,
    read_delta,
    read_direct,
    read_reference,
    recipe_fits,
)

SHA_A = "a" * 64
SHA_B = "b" * 64
WHEN = datetime(2026, 11, 21, 8, 30, 0, 123456, tzinfo=UTC)
TOOL = "deltaglider/0.1.0"
# A deep CJK prefix and a long CJK name: 982 bytes of UTF-8, about 9 bytes per
# character once percent-encoded (as names are in metadata).
FOLDER = ("发布版本" * 12 + "/") * 3
NAME = "应用程序包" * 36 + ".tar.gz"
KEY = FOLDER + NAME
# The largest gzip header a recipe records (1,024 bytes).
LARGEST_RECIPE = "v1;level=9;mem=8;strategy=0;header=" + base64.b64encode(bytes(1024)).decode()


def test_the_key_is_long_and_cjk() -> None:
    assert 950 < len(KEY.encode()) <= KEY_LIMIT - len(".delta")
    assert len(NAME.encode()) > 500
    assert len(FOLDER.encode()) > 400


def test_metadata_of_every_kind_fits_under_a_long_cjk_key() -> None:
    ref_key = FOLDER + "reference-0123456789abcdef.bin"
    delta = DeltaMeta(
        NAME, SHA_A, 10**9, WHEN, WHEN, ref_key, SHA_B, 10**6, "xdelta3", TOOL,
        container="gzip", recipe=LARGEST_RECIPE,
    )  # fmt: skip
    direct = DirectMeta(NAME, SHA_A, 10**9, WHEN, WHEN, TOOL)
    reference = ReferenceMeta(NAME, SHA_B, 10**9, WHEN, TOOL)
    written = {
        "delta": delta.to_metadata(KEY + ".delta"),
        "direct": direct.to_metadata(),
        "reference": reference.to_metadata(),
    }
    assert {kind: metadata_size(meta) <= METADATA_LIMIT for kind, meta in written.items()} == {
        "delta": True,
        "direct": True,
        "reference": True,
    }
    back = read_delta(written["delta"], KEY + ".delta")
    assert (back.ref_key, back.recipe, back.sha256, back.size) == (
        ref_key,
        LARGEST_RECIPE,
        SHA_A,
        10**9,
    )
    assert written["delta"]["dg-ref-key"] == "reference-0123456789abcdef.bin"
    parsed = read_direct(written["direct"])
    assert parsed is not None
    assert parsed.sha256 == SHA_A


def test_names_are_dropped_from_deltas_and_direct_objects_only_when_they_do_not_fit() -> None:
    short = DirectMeta("app-1.0.zip", SHA_A, 1, WHEN, WHEN, TOOL).to_metadata()
    assert short["dg-original-name"] == "app-1.0.zip"
    long = DirectMeta(NAME * 2, SHA_A, 1, WHEN, WHEN, TOOL).to_metadata()
    assert "dg-original-name" not in long
    parsed = read_direct(long)
    assert parsed is not None
    assert parsed.name == ""


def test_a_reference_name_is_shortened_to_fit_and_keeps_its_start() -> None:
    original = NAME * 2  # 1,094 bytes: 3,246 percent-encoded
    meta = ReferenceMeta(original, SHA_B, 10**9, WHEN, TOOL).to_metadata()
    assert metadata_size(meta) <= METADATA_LIMIT
    shortened = read_reference(meta).name
    assert original.startswith(shortened)
    assert len(shortened) > 150  # all that fits is kept: the reference policy matches starts
    one_more = meta | {"dg-original-name": meta["dg-original-name"] + "%E5%BA%94"}
    assert metadata_size(one_more) > METADATA_LIMIT


@pytest.mark.parametrize(
    ("delta_key", "written", "resolved"),
    [
        ("rel/app/x.zip.delta", "reference.bin", "rel/app/reference.bin"),
        (KEY + ".delta", "reference.bin", FOLDER + "reference.bin"),
        # DeltaGlider 6.x wrote the reference's key in the bucket.
        ("rel/app/x.zip.delta", "rel/app/reference.bin", "rel/app/reference.bin"),
        # At the bucket root both forms are the same string.
        ("x.zip.delta", "reference.bin", "reference.bin"),
    ],
)
def test_ref_key_reads_back_as_the_full_key(delta_key: str, written: str, resolved: str) -> None:
    meta = {
        "dg-file-sha256": SHA_A,
        "dg-file-size": "1",
        "dg-ref-key": written,
        "dg-ref-sha256": SHA_B,
    }
    assert read_delta(meta, delta_key).ref_key == resolved


def test_ref_key_is_written_relative_to_the_delta() -> None:
    delta = DeltaMeta(
        "x.zip", SHA_A, 1, WHEN, WHEN, "rel/app/reference.bin", SHA_B, 1, "zstd", TOOL
    )
    assert delta.to_metadata("rel/app/x.zip.delta")["dg-ref-key"] == "reference.bin"
    with pytest.raises(ValueError, match="not beside its delta"):
        delta.to_metadata("rel/other/x.zip.delta")


def test_the_largest_recipe_fits_unless_the_rest_is_unusually_large() -> None:
    assert recipe_fits(LARGEST_RECIPE, container="gzip", codec="xdelta3", tool=TOOL)
    assert not recipe_fits(LARGEST_RECIPE, container="gzip", codec="xdelta3", tool="t" * 200)
