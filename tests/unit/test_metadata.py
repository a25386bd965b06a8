"""The storage format's metadata: written form, and every form read back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deltaglider.core.errors import FormatError
from deltaglider.core.metadata import (
    DeltaMeta,
    DirectMeta,
    ReferenceMeta,
    read_delta,
    read_direct,
    read_reference,
)

SHA_A = "a" * 64
SHA_B = "b" * 64
WHEN = datetime(2026, 11, 21, 8, 30, 0, 123456, tzinfo=UTC)
DELTA_KEY = "releases/app-1.0.zip.delta"


def delta_meta(**changes: object) -> DeltaMeta:
    fields: dict[str, object] = {
        "name": "app-1.0.zip",
        "sha256": SHA_A,
        "size": 1234,
        "mtime": WHEN,
        "created_at": WHEN,
        "ref_key": "releases/reference.bin",
        "ref_sha256": SHA_B,
        "delta_size": 56,
        "codec": "xdelta3",
        "tool": "deltaglider/0.1.0",
    }
    fields.update(changes)
    return DeltaMeta(**fields)  # type: ignore[arg-type]


def test_delta_metadata_golden() -> None:
    assert delta_meta().to_metadata(DELTA_KEY) == {
        "dg-format": "1",
        "dg-kind": "delta",
        "dg-tool": "deltaglider/0.1.0",
        "dg-original-name": "app-1.0.zip",
        "dg-file-sha256": SHA_A,
        "dg-file-size": "1234",
        "dg-file-mtime": "2026-11-21T08:30:00.123456Z",
        "dg-created-at": "2026-11-21T08:30:00.123456Z",
        "dg-ref-key": "reference.bin",
        "dg-ref-sha256": SHA_B,
        "dg-delta-size": "56",
        "dg-codec": "xdelta3",
    }


def test_each_kind_round_trips() -> None:
    delta = delta_meta()
    assert read_delta(delta.to_metadata(DELTA_KEY), DELTA_KEY) == delta
    direct = DirectMeta("notes.txt", SHA_A, 10, WHEN, WHEN, "deltaglider/0.1.0")
    assert read_direct(direct.to_metadata()) == direct
    reference = ReferenceMeta("app-1.0.zip", SHA_B, 99, WHEN, "deltaglider/0.1.0")
    assert read_reference(reference.to_metadata()) == reference


def test_names_are_percent_encoded_to_stay_printable_ascii() -> None:
    delta_key = "ü/släpp 100%.zip.delta"
    meta = delta_meta(name="släpp 100%.zip", ref_key="ü/reference.bin").to_metadata(delta_key)
    assert meta["dg-original-name"] == "sl%C3%A4pp%20100%25.zip"
    assert all(value.isascii() and " " not in value for value in meta.values())
    parsed = read_delta(meta, delta_key)
    assert (parsed.name, parsed.ref_key) == ("släpp 100%.zip", "ü/reference.bin")


def test_reads_deltaglider_6_metadata() -> None:
    meta = {
        "dg-tool": "deltaglider/6.1.2",
        "dg-original-name": "app%1.zip",
        "dg-file-sha256": SHA_A.upper(),
        "dg-file-size": "80718631",
        "dg-created-at": "2025-09-21T12:05:00.123456Z",
        "dg-ref-key": "ror/es/1.64.2/reference.bin",
        "dg-ref-sha256": SHA_B,
        "dg-delta-size": "3111228",
        "dg-delta-cmd": "xdelta3 -e -9 -s reference.bin <file> <file>.delta",
        "dg-note": "zero-diff (reference identical)",
    }
    parsed = read_delta(meta, "ror/es/1.64.2/app%1.zip.delta")
    assert parsed.name == "app%1.zip"  # legacy names were never encoded
    assert parsed.sha256 == SHA_A
    assert parsed.size == 80718631
    assert parsed.ref_key == "ror/es/1.64.2/reference.bin"
    assert parsed.codec == "xdelta3"
    assert parsed.mtime is None
    assert parsed.created_at == datetime(2025, 9, 21, 12, 5, 0, 123456, tzinfo=UTC)


def test_reads_0x_underscore_metadata_and_naive_times() -> None:
    meta = {
        "tool": "deltaglider/0.1.0",
        "original_name": "a.zip",
        "file_sha256": SHA_A,
        "file_size": "41",
        "created_at": "2026-05-16T03:28:01.000000",
        "ref_key": "p/reference.bin",
        "ref_sha256": SHA_B,
        "delta_size": "7",
        "delta_cmd": "xdelta3 -e -9 -s reference.bin <file> <file>.delta",
    }
    parsed = read_delta(meta, "p/a.zip.delta")
    assert (parsed.name, parsed.size, parsed.ref_key, parsed.codec) == (
        "a.zip",
        41,
        "p/reference.bin",
        "xdelta3",
    )
    assert parsed.created_at == datetime(2026, 5, 16, 3, 28, 1, tzinfo=UTC)


def test_reads_6x_reference_and_direct_forms() -> None:
    reference = read_reference(
        {"dg-source-name": "first.zip", "dg-file-sha256": SHA_A, "dg-note": "reference"}
    )
    assert (reference.name, reference.sha256, reference.size) == ("first.zip", SHA_A, None)
    direct = read_direct(
        {
            "original-name": "x.sha1",
            "file-sha256": SHA_B,
            "file-size": "41",
            "compression": "none",
        }
    )
    assert direct is not None
    assert (direct.name, direct.size) == ("x.sha1", 41)


def test_canonical_key_wins_over_legacy_spelling() -> None:
    meta = delta_meta(name="new.zip").to_metadata(DELTA_KEY) | {"original_name": "old.zip"}
    assert read_delta(meta, DELTA_KEY).name == "new.zip"


def test_plain_object_has_no_direct_metadata() -> None:
    assert read_direct({}) is None
    assert read_direct({"content-owner": "someone"}) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dg-file-sha256": "not-a-sha"}, "dg-file-sha256"),
        ({"dg-ref-sha256": ""}, "dg-ref-sha256"),
        ({"dg-file-size": "-3"}, "dg-file-size"),
        ({"dg-created-at": "yesterday"}, "dg-created-at"),
        ({"dg-ref-key": ""}, "dg-ref-key"),
        ({"dg-format": "x"}, "dg-format"),
        ({"dg-format": "2"}, "upgrade DeltaGlider"),
    ],
)
def test_malformed_or_future_metadata_is_refused(change: dict[str, str], message: str) -> None:
    meta = delta_meta().to_metadata(DELTA_KEY) | change
    with pytest.raises(FormatError, match=message):
        read_delta(meta, DELTA_KEY)


def test_delta_without_metadata_is_refused() -> None:
    with pytest.raises(FormatError):
        read_delta({}, DELTA_KEY)
