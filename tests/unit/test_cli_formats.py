"""Golden tests for the `aws s3` formats and location rules the CLI follows."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest

from deltaglider.app.cli.aws_errors import error_line
from deltaglider.app.cli.locations import (
    BadLocation,
    S3Location,
    download_target,
    parse_s3,
    relative_path,
)
from deltaglider.app.cli.output import human_size, ls_object_line, ls_prefix_line
from deltaglider.core.errors import (
    AlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    IntegrityError,
    KeyTooLong,
    LocalFileError,
    ObjectNotFound,
    StorageError,
)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 Bytes"),
        (1, "1 Byte"),
        (1023, "1023 Bytes"),
        (1024, "1.0 KiB"),
        (1024 * 1024 - 1, "1.0 MiB"),  # aws rounds up into the next unit
        (5 * 1024**3 + 1, "5.0 GiB"),
        (3 * 1024**5, "3.0 PiB"),
    ],
)
def test_human_sizes_match_aws(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.fixture
def utc_zone() -> Iterator[None]:
    """Local time is UTC for the test (aws prints listing times in local time)."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


@pytest.mark.usefixtures("utc_zone")
def test_ls_lines_match_aws_columns() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert ls_object_line(when, "1234", "a.zip") == "2026-01-02 03:04:05       1234 a.zip"
    assert ls_prefix_line("dir/") == "                           PRE dir/"


@pytest.mark.parametrize(
    ("uri", "bucket", "key"),
    [
        ("s3://b", "b", ""),
        ("s3://b/", "b", ""),
        ("s3://b/dir/", "b", "dir/"),
        ("s3://b/dir/a.zip", "b", "dir/a.zip"),
    ],
)
def test_parse_s3(uri: str, bucket: str, key: str) -> None:
    assert parse_s3(uri) == S3Location(bucket, key)


@pytest.mark.parametrize("uri", ["s3://", "s3:///x", "s3://bad bucket/x", "b/x", "S3://b/x"])
def test_bad_s3_uris(uri: str) -> None:
    with pytest.raises(BadLocation):
        parse_s3(uri)


def test_upload_destination_rules() -> None:
    assert str(parse_s3("s3://b").joined("a.zip")) == "s3://b/a.zip"
    assert str(parse_s3("s3://b/dir/").joined("a.zip")) == "s3://b/dir/a.zip"
    assert str(parse_s3("s3://b/name.zip").joined("a.zip")) == "s3://b/name.zip"


def test_download_destination_rules(tmp_path: Path) -> None:
    (tmp_path / "existing").mkdir()
    assert download_target(str(tmp_path / "existing"), "d/a.zip") == tmp_path / "existing/a.zip"
    assert download_target(f"{tmp_path}/new/", "d/a.zip") == tmp_path / "new/a.zip"
    assert download_target(str(tmp_path / "b.zip"), "d/a.zip") == tmp_path / "b.zip"


def test_relative_paths_print_like_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert relative_path("a.zip") == "./a.zip"
    assert relative_path(tmp_path / "b.zip") == "../b.zip"
    assert relative_path(tmp_path / "sub" / "x" / "c.zip") == os.path.join("x", "c.zip")


# ---------------------------------------------------------------- error lines


@pytest.mark.parametrize(
    ("error", "line"),
    [
        pytest.param(
            BucketNotFound("b", "PutObject"),
            "An error occurred (NoSuchBucket) when calling the PutObject operation: "
            "The specified bucket does not exist",
            id="no-such-bucket",
        ),
        pytest.param(
            ObjectNotFound("b", "missing.zip"),
            'An error occurred (404) when calling the HeadObject operation: Key "missing.zip" '
            "does not exist",
            id="looked-up-key",
        ),
        pytest.param(
            ObjectNotFound("b", "gone.zip", "GetObject"),
            "An error occurred (NoSuchKey) when calling the GetObject operation: "
            "The specified key does not exist.",
            id="read-key",
        ),
        pytest.param(
            KeyTooLong("b", "k"),
            "An error occurred (KeyTooLongError) when calling the PutObject operation: "
            "Your key is too long",
            id="key-too-long",
        ),
        pytest.param(
            BucketNotEmpty("b"),
            "An error occurred (BucketNotEmpty) when calling the DeleteBucket operation: "
            "The bucket you tried to delete is not empty",
            id="bucket-not-empty",
        ),
        pytest.param(
            StorageError(operation="PutObject", code="InvalidObjectName", status=400),
            "An error occurred (InvalidObjectName) when calling the PutObject operation: "
            "Bad Request",
            id="no-message-from-the-store",
        ),
        pytest.param(AlreadyExists("b", "k"), "s3://b/k already exists", id="own-account"),
        pytest.param(
            LocalFileError("cannot read a.zip: Permission denied"),
            "cannot read a.zip: Permission denied",
            id="local-file",
        ),
        pytest.param(
            IntegrityError("the stored delta is damaged (zstd decode failed)"),
            "the stored delta is damaged (zstd decode failed)",
            id="integrity",
        ),
        pytest.param(OSError("disk full"), "disk full", id="not-deltagliders"),
    ],
)
def test_errors_read_as_the_aws_cli_prints_them(error: Exception, line: str) -> None:
    assert error_line(error) == line


def test_the_command_list_says_what_each_command_says() -> None:
    """`--help` lists the commands without importing them: from summaries kept in
    app/cli/commands.py, which must stay the commands' own."""
    from deltaglider.app.cli.commands import COMMANDS, LazyGroup

    group = LazyGroup()
    for name, (_, summary) in COMMANDS.items():
        command = group.get_command(click.Context(group), name)
        assert command is not None, name
        assert command.get_short_help_str(limit=1000) == summary, name
