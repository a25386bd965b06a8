"""The `deltaglider` command end to end: the installed console script, run in a
subprocess exactly as a user would, against each backend (file, moto, Ceph RGW)."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import random
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tests.artifacts import release_zip
from tests.conftest import Backend, raw_client

DELTAGLIDER = Path(sys.executable).with_name("deltaglider")
VERSIONS = (1, 2, 3, 4)
# `aws s3 ls` object line: local time, size right-aligned in 10 columns, name.
LS_OBJECT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (?P<size>.{10}) (?P<name>\S+)")
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there

Result = subprocess.CompletedProcess[str]


# ---------------------------------------------------------------- helpers


def run(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> Result:
    """`deltaglider ARGS` in `cwd` with exactly `env`; output captured as text."""
    return subprocess.run(
        [str(DELTAGLIDER), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def succeed(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> list[str]:
    """Run a command that must succeed quietly on stderr; its stdout lines."""
    result = run(args, env, cwd)
    assert result.returncode == 0, f"{args}: {result.returncode}\n{result.stderr}"
    assert result.stderr == ""
    return result.stdout.splitlines()


def fail(args: Sequence[str], env: Mapping[str, str], cwd: Path, status: int) -> str:
    """Run a command that must fail with `status` and one stderr line; that line."""
    result = run(args, env, cwd)
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"{args}: expected one line on stderr, got:\n{result.stderr}"
    assert result.returncode == status, f"{args}: {result.returncode}: {lines[0]}"
    assert result.stdout == ""
    return lines[0]


def changed(env: Mapping[str, str], **changes: str | None) -> dict[str, str]:
    """`env` with variables set, or removed where the value is None."""
    updated = dict(env)
    for name, value in changes.items():
        if value is None:
            updated.pop(name, None)
        else:
            updated[name] = value
    return updated


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bucket_dir(backend: Backend) -> Path:
    """The bucket's directory in a `file://` store."""
    return Path(unquote(urlsplit(backend.endpoint).path)) / backend.bucket


def stored(backend: Backend) -> dict[str, str]:
    """Everything the bucket holds as stored (sidecars and references included):
    stored key -> digest of its bytes and metadata."""
    if backend.name == "file":
        root = bucket_dir(backend)
        return {
            path.relative_to(root).as_posix(): sha256(path.read_bytes())
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }
    client: Any = raw_client(backend.env)
    found: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=backend.bucket):
        for item in page.get("Contents", []):
            got = client.get_object(Bucket=backend.bucket, Key=item["Key"])
            found[item["Key"]] = f"{sha256(got['Body'].read())} {sorted(got['Metadata'].items())}"
    return found


def corrupt(backend: Backend, key: str) -> None:
    """Damage a stored object's bytes, keeping its metadata as it was."""
    if backend.name == "file":
        path = bucket_dir(backend) / key
        data = bytearray(path.read_bytes())
        for index in range(len(data) // 2, len(data)):
            data[index] ^= 0xFF
        path.write_bytes(bytes(data))
        return
    client: Any = raw_client(backend.env)
    head = client.head_object(Bucket=backend.bucket, Key=key)
    garbage = random.Random(7).randbytes(head["ContentLength"])
    client.put_object(Bucket=backend.bucket, Key=key, Body=garbage, Metadata=head["Metadata"])


def ls_objects(lines: list[str]) -> list[tuple[str, int]]:
    """(name, size) of each `aws s3 ls` object line; fails on any other line."""
    objects = []
    for line in lines:
        match = LS_OBJECT.fullmatch(line)
        assert match is not None, f"not an ls object line: {line!r}"
        objects.append((match["name"], int(match["size"])))
    return objects


def upload_releases(backend: Backend, releases: list[Path], cwd: Path) -> None:
    """`cp FILE s3://bucket/releases/` for each file, checking the aws line."""
    env = backend.subprocess_env()
    for path in releases:
        lines = succeed(["cp", path.name, f"s3://{backend.bucket}/releases/"], env, cwd)
        assert lines == [f"upload: ./{path.name} to s3://{backend.bucket}/releases/{path.name}"]


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The user's working directory: every command runs here."""
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def releases(work: Path) -> list[Path]:
    """Four versions of a release zip (~240 KB each) in the working directory."""
    return [release_zip(work / f"app-1.{v}.0.zip", v, files=12, file_size=20_000) for v in VERSIONS]


@pytest.fixture
def downloads(work: Path) -> Path:
    """An existing, empty download directory in the working directory."""
    path = work / "downloads"
    path.mkdir()
    return path


@pytest.fixture
def no_xdelta3(tmp_path: Path) -> Path:
    """An empty directory: as PATH, a system without xdelta3."""
    path = tmp_path / "empty-bin"
    path.mkdir()
    return path


# ---------------------------------------------------------------- happy path


def test_cp_up_then_ls_shows_original_names_and_sizes(
    backend: Backend, work: Path, releases: list[Path]
) -> None:
    """Deltas and the reference never show: ls lists what was uploaded, as uploaded."""
    env, bucket = backend.subprocess_env(), backend.bucket
    upload_releases(backend, releases, work)
    expected = [(path.name, path.stat().st_size) for path in releases]

    listing = succeed(["ls", f"s3://{bucket}/releases/"], env, work)
    assert ls_objects(listing) == expected
    assert "reference.bin" not in "\n".join(listing)
    assert ".delta" not in "\n".join(listing)

    assert succeed(["ls", f"s3://{bucket}/"], env, work) == [
        "                           PRE releases/"
    ]

    recursive = succeed(["ls", "--recursive", "--summarize", f"s3://{bucket}/"], env, work)
    assert ls_objects(recursive[:-3]) == [(f"releases/{name}", size) for name, size in expected]
    assert recursive[-3:] == [
        "",
        "Total Objects: 4",
        f"   Total Size: {sum(size for _, size in expected)}",
    ]


def test_cp_down_gives_the_files_back_byte_for_byte(
    backend: Backend, work: Path, releases: list[Path], downloads: Path
) -> None:
    """`cp s3://... DIR/` writes DIR/NAME, identical to what was uploaded."""
    env, bucket = backend.subprocess_env(), backend.bucket
    upload_releases(backend, releases, work)

    for path in releases:
        source = f"s3://{bucket}/releases/{path.name}"
        lines = succeed(["cp", source, "downloads/"], env, work)
        assert lines == [f"download: {source} to downloads/{path.name}"]
        assert (downloads / path.name).read_bytes() == path.read_bytes()
    assert sorted(p.name for p in downloads.iterdir()) == [p.name for p in releases]


def test_verify_and_stats_after_upload(backend: Backend, work: Path, releases: list[Path]) -> None:
    """verify checks each object's SHA256; stats reports the prefix, all deltas, all of
    the zip's content but the reference's own, and the reference's bytes."""
    env, bucket = backend.subprocess_env(), backend.bucket
    upload_releases(backend, releases, work)

    for path in releases:
        location = f"s3://{bucket}/releases/{path.name}"
        digest = sha256(path.read_bytes())
        assert succeed(["verify", location], env, work) == [f"verified: {location} sha256={digest}"]

    table = succeed(["stats", f"s3://{bucket}/"], env, work)
    assert table[0].split() == [
        "BUCKET",
        "PREFIX",
        "OBJECTS",
        "DELTAS",
        "CONTENT",
        "REFS",
        "LOGICAL",
        "STORED",
        "SAVED",
    ]
    assert re.match(rf"\s*{bucket}\s+releases/\s+4\s+4\s+3\s+\d", table[2]), table
    assert re.match(r"\s*TOTAL\s+4\s+4\s+3\s", table[-1]), table

    report = json.loads("\n".join(succeed(["stats", "--json", f"s3://{bucket}/"], env, work)))
    [row] = report["buckets"][0]["prefixes"]
    logical = sum(path.stat().st_size for path in releases)
    assert (row["prefix"], row["objects"], row["deltas"], row["references"]) == (
        "releases/",
        4,
        4,
        1,
    )
    assert row["content_deltas"] == 3
    # the first release, stored compressed (half of each of its files is zeros)
    assert 0 < row["reference_bytes"] < releases[0].stat().st_size
    assert row["logical_bytes"] == logical
    assert row["stored_bytes"] < logical / 2
    assert report["total"]["saved_bytes"] == logical - row["stored_bytes"]


def test_rm_keeps_the_others_and_the_last_rm_empties_the_bucket(
    backend: Backend, work: Path, releases: list[Path], downloads: Path
) -> None:
    """After one rm the rest still rebuild exactly; after all, nothing is stored."""
    env, bucket = backend.subprocess_env(), backend.bucket
    upload_releases(backend, releases, work)
    removed, *kept = releases[1], releases[0], *releases[2:]

    location = f"s3://{bucket}/releases/{removed.name}"
    assert succeed(["rm", location], env, work) == [f"delete: {location}"]
    listing = succeed(["ls", f"s3://{bucket}/releases/"], env, work)
    assert [name for name, _ in ls_objects(listing)] == [path.name for path in kept]
    fail(["cp", location, "downloads/"], env, work, 1)

    for path in kept:
        succeed(["cp", f"s3://{bucket}/releases/{path.name}", "downloads/"], env, work)
        assert (downloads / path.name).read_bytes() == path.read_bytes()

    for path in kept:
        location = f"s3://{bucket}/releases/{path.name}"
        assert succeed(["rm", location], env, work) == [f"delete: {location}"]
    assert stored(backend) == {}
    if backend.name == "file":
        assert list(bucket_dir(backend).iterdir()) == []  # no empty folder left either
    empty = run(["ls", f"s3://{bucket}/"], env, work)
    assert (empty.returncode, empty.stdout, empty.stderr) == (1, "", "")  # as `aws s3 ls`


# ---------------------------------------------------------------- names and places


def test_cp_to_an_explicit_key_and_back_to_an_explicit_file(
    backend: Backend, work: Path, releases: list[Path]
) -> None:
    """A destination key or file name is taken exactly as given."""
    env, bucket = backend.subprocess_env(), backend.bucket
    source = releases[0]

    lines = succeed(["cp", source.name, f"s3://{bucket}/explicit-name.zip"], env, work)
    assert lines == [f"upload: ./{source.name} to s3://{bucket}/explicit-name.zip"]
    listing = succeed(["ls", f"s3://{bucket}/"], env, work)
    assert ls_objects(listing) == [("explicit-name.zip", source.stat().st_size)]

    lines = succeed(["cp", f"s3://{bucket}/explicit-name.zip", "local-name.zip"], env, work)
    assert lines == [f"download: s3://{bucket}/explicit-name.zip to ./local-name.zip"]
    assert (work / "local-name.zip").read_bytes() == source.read_bytes()


def test_cp_down_into_an_existing_directory_without_trailing_slash(
    backend: Backend, work: Path, releases: list[Path], downloads: Path
) -> None:
    """`cp s3://b/k DIR` writes DIR/NAME when DIR is a directory, as aws does."""
    env, bucket = backend.subprocess_env(), backend.bucket
    upload_releases(backend, releases[:1], work)
    source = f"s3://{bucket}/releases/{releases[0].name}"

    lines = succeed(["cp", source, "downloads"], env, work)
    assert lines == [f"download: {source} to downloads/{releases[0].name}"]
    assert (downloads / releases[0].name).read_bytes() == releases[0].read_bytes()


# ---------------------------------------------------------------- bad input

UPLOAD = ("cp", "app-1.1.0.zip", "s3://{bucket}/releases/")
DOWNLOAD = ("cp", "s3://{bucket}/releases/app-1.1.0.zip", "got.zip")
LIST = ("ls", "s3://{bucket}/")
FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.mark.parametrize(
    ("args", "env", "status", "says"),
    [
        pytest.param(
            ("cp", "missing.zip", "s3://{bucket}/releases/"),
            {},
            255,
            "missing.zip does not exist",
            id="missing-local-file",
        ),
        pytest.param(
            ("cp", "app-1.1.0.zip", "s3://{bucket}-missing/releases/"),
            {},
            1,
            "bucket does not exist",
            id="unknown-bucket-upload",
        ),
        pytest.param(DOWNLOAD, {}, 1, "does not exist", id="missing-key-download"),
        pytest.param(("cp", "app-1.1.0.zip", "s3://"), {}, 255, "s3://", id="cp-to-s3-nothing"),
        pytest.param(("cp", "app-1.1.0.zip", "s3:///x"), {}, 255, "s3:///x", id="cp-no-bucket"),
        pytest.param(("cp", "s3:///x", "got.zip"), {}, 255, "s3:///x", id="cp-from-no-bucket"),
        pytest.param(("ls", "s3:///x"), {}, 255, "s3:///x", id="ls-no-bucket-name"),
        pytest.param(UPLOAD, {"DG_MAX_RATIO": "abc"}, 255, "DG_MAX_RATIO", id="bad-max-ratio"),
        pytest.param(LIST, {"DG_LOG_LEVEL": "LOUD"}, 255, "DG_LOG_LEVEL", id="bad-log-level"),
        pytest.param(
            LIST, {"AWS_ENDPOINT_URL": "ftp://x"}, 255, "AWS_ENDPOINT_URL", id="ftp-endpoint"
        ),
        pytest.param(
            LIST,
            {"AWS_ENDPOINT_URL": UNREACHABLE, **FAKE_KEYS},
            255,
            "Could not connect",
            id="unreachable-ls",
        ),
        pytest.param(
            UPLOAD,
            {"AWS_ENDPOINT_URL": UNREACHABLE, **FAKE_KEYS},
            1,
            "Could not connect",
            id="unreachable-cp-up",
        ),
        pytest.param(
            DOWNLOAD,
            {"AWS_ENDPOINT_URL": UNREACHABLE, **FAKE_KEYS},
            1,
            "Could not connect",
            id="unreachable-cp-down",
        ),
    ],
)
def test_bad_input_gives_one_line_and_an_exit_status(
    backend: Backend,
    work: Path,
    args: tuple[str, ...],
    env: dict[str, str],
    status: int,
    says: str,
) -> None:
    """One line on stderr, no traceback, the aws exit status, and nothing stored."""
    release_zip(work / "app-1.1.0.zip", 1)
    command = [arg.format(bucket=backend.bucket) for arg in args]

    line = fail(command, changed(backend.subprocess_env(), **env), work, status)

    assert says in line
    assert not (work / "got.zip").exists()
    assert stored(backend) == {}


@pytest.mark.parametrize(
    ("args", "status"),
    [
        pytest.param(LIST, 255, id="ls"),
        pytest.param(UPLOAD, 1, id="cp-up"),
        pytest.param(DOWNLOAD, 1, id="cp-down"),
    ],
)
def test_no_credentials_gives_one_line(
    s3_backend: Backend, work: Path, args: tuple[str, ...], status: int
) -> None:
    """No keys, no profile, no config files: one line saying so (IMDS off, for speed)."""
    release_zip(work / "app-1.1.0.zip", 1)
    env = changed(
        s3_backend.subprocess_env(),
        AWS_ACCESS_KEY_ID=None,
        AWS_SECRET_ACCESS_KEY=None,
        AWS_SESSION_TOKEN=None,
        AWS_PROFILE=None,
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
    )
    command = [arg.format(bucket=s3_backend.bucket) for arg in args]

    line = fail(command, env, work, status)

    assert "credentials" in line
    assert stored(s3_backend) == {}


@pytest.mark.parametrize(
    ("args", "status"),
    [
        pytest.param(("ls",), 255, id="ls-buckets"),
        pytest.param(("ls", "s3://bkt/"), 255, id="ls"),
        pytest.param(("cp", "app-1.1.0.zip", "s3://bkt/"), 1, id="cp-up"),
        pytest.param(("cp", "s3://bkt/app-1.1.0.zip", "."), 1, id="cp-down"),
        pytest.param(("rm", "s3://bkt/app-1.1.0.zip"), 1, id="rm"),
        pytest.param(("sync", ".", "s3://bkt/"), 1, id="sync"),
    ],
)
def test_a_local_store_that_is_not_there_is_an_error(
    work: Path, args: tuple[str, ...], status: int
) -> None:
    """A mistyped file:// endpoint is not an empty store: one line naming it, nothing
    made (aws says it could not connect to an endpoint that is not there)."""
    release_zip(work / "app-1.1.0.zip", 1)
    missing = work / "no-such-store"
    env = changed(dict(os.environ), AWS_ENDPOINT_URL=missing.as_uri())

    line = fail(args, env, work, status)

    assert f"{missing} is not a directory" in line
    assert not missing.exists()


@pytest.fixture(scope="module")
def web_server() -> Iterator[str]:
    """A plain web server (Python's own), the kind an endpoint URL is mistyped into."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("args", "status"),
    [
        pytest.param(("ls",), 255, id="ls-buckets"),
        pytest.param(("ls", "s3://bkt/"), 255, id="ls"),
        pytest.param(("cp", "app-1.1.0.zip", "s3://bkt/"), 1, id="cp-up"),
        pytest.param(("cp", "s3://bkt/app-1.1.0.zip", "."), 1, id="cp-down"),
    ],
)
def test_an_endpoint_that_is_not_s3_is_named_as_such(
    web_server: str, work: Path, args: tuple[str, ...], status: int
) -> None:
    """Not a 404 about the key, a 500 or a 501 (what aws says): the endpoint is wrong."""
    release_zip(work / "app-1.1.0.zip", 1)
    env = changed(
        dict(os.environ),
        AWS_ENDPOINT_URL=web_server,
        AWS_ACCESS_KEY_ID="key",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_MAX_ATTEMPTS="1",
    )

    line = fail(args, env, work, status)

    assert re.search(r"The endpoint is not an S3 service: it answered \w+ with an HTML", line)
    assert line.endswith("check --endpoint-url")


@pytest.mark.parametrize(
    ("uploaded", "args"),
    [
        pytest.param(0, UPLOAD, id="first-upload"),
        pytest.param(1, ("cp", "app-1.2.0.zip", "s3://{bucket}/releases/"), id="next-upload"),
        pytest.param(2, ("cp", "s3://{bucket}/releases/app-1.2.0.zip", "downloads/"), id="cp-down"),
        pytest.param(2, ("verify", "s3://{bucket}/releases/app-1.2.0.zip"), id="verify"),
    ],
)
def test_missing_xdelta3_gives_one_line_and_changes_nothing(
    backend: Backend,
    work: Path,
    releases: list[Path],
    downloads: Path,
    no_xdelta3: Path,
    uploaded: int,
    args: tuple[str, ...],
) -> None:
    """With DG_CODEC=xdelta3 and no xdelta3 on PATH: one line naming it, exit 1, the
    store as it was."""
    backend.env["DG_CODEC"] = "xdelta3"
    upload_releases(backend, releases[:uploaded], work)
    before = stored(backend)
    env = changed(backend.subprocess_env(), PATH=str(no_xdelta3))
    command = [arg.format(bucket=backend.bucket) for arg in args]

    line = fail(command, env, work, 1)

    assert "xdelta3" in line
    assert list(downloads.iterdir()) == []
    assert stored(backend) == before


def test_the_default_codec_needs_no_xdelta3(
    backend: Backend, work: Path, releases: list[Path], downloads: Path, no_xdelta3: Path
) -> None:
    """zstd runs in-process: uploads and downloads work with no xdelta3 installed."""
    env = changed(backend.subprocess_env(), PATH=str(no_xdelta3))
    for path in releases:
        succeed(["cp", path.name, f"s3://{backend.bucket}/releases/"], env, work)
    succeed(["cp", "--recursive", f"s3://{backend.bucket}/releases/", "downloads/"], env, work)
    for path in releases:
        assert (downloads / path.name).read_bytes() == path.read_bytes()


@pytest.mark.parametrize(
    ("damaged", "says"),
    [
        pytest.param("releases/app-1.2.0.zip.delta", "delta is damaged", id="delta"),
        pytest.param("releases/reference.bin", "reference", id="reference"),
    ],
)
def test_download_of_a_corrupt_object_fails_cleanly(
    backend: Backend,
    work: Path,
    releases: list[Path],
    downloads: Path,
    damaged: str,
    says: str,
) -> None:
    """No file, no temp file, one line, exit 1; the download changes nothing stored."""
    env, bucket = backend.subprocess_env(), backend.bucket
    upload_releases(backend, releases[:2], work)
    corrupt(backend, damaged)
    before = stored(backend)
    source = f"s3://{bucket}/releases/{releases[1].name}"

    line = fail(["cp", source, "downloads/"], env, work, 1)

    assert line.startswith(f"download failed: {source} to downloads/{releases[1].name} ")
    assert says in line
    assert list(downloads.iterdir()) == []  # neither the file nor a .dg-tmp- file
    assert stored(backend) == before
    assert fail(["verify", source], env, work, 1).startswith(f"verify failed: {source} ")
    assert stored(backend) == before


@pytest.mark.parametrize("failure", ["missing-key", "corrupt-delta", "no-xdelta3"])
def test_failed_download_leaves_an_existing_file_untouched(
    backend: Backend,
    work: Path,
    releases: list[Path],
    downloads: Path,
    no_xdelta3: Path,
    failure: str,
) -> None:
    """The destination keeps its bytes and its mtime; nothing is left beside it."""
    if failure == "no-xdelta3":
        backend.env["DG_CODEC"] = "xdelta3"
    env, bucket = backend.subprocess_env(), backend.bucket
    upload_releases(backend, releases[:2], work)
    name = "app-1.9.0.zip" if failure == "missing-key" else releases[1].name
    existing = downloads / name
    existing.write_bytes(b"precious local copy")
    os.utime(existing, (1_000_000_000, 1_000_000_000))
    if failure == "corrupt-delta":
        corrupt(backend, f"releases/{name}.delta")
    if failure == "no-xdelta3":
        env = changed(env, PATH=str(no_xdelta3))

    fail(["cp", f"s3://{bucket}/releases/{name}", "downloads/"], env, work, 1)

    assert existing.read_bytes() == b"precious local copy"
    assert existing.stat().st_mtime == 1_000_000_000
    assert [p.name for p in downloads.iterdir()] == [name]


# ---------------------------------------------------------------- help


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        ["--version"],
        *([command, "--help"] for command in ("cp", "ls", "rm", "put", "get", "verify", "stats")),
    ],
    ids=" ".join,
)
def test_help_exits_0(tmp_path: Path, args: list[str]) -> None:
    """Help and version print to stdout and exit 0, with no store configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DG_"))}

    lines = succeed(args, env, tmp_path)

    expected = "deltaglider, version" if args == ["--version"] else "Usage: deltaglider"
    assert lines[0].startswith(expected)


def test_the_progress_bar_moves_through_every_phase_in_the_units_of_ls(
    backend: Backend, work: Path
) -> None:
    """On a terminal (a pseudo-terminal here) a large upload's bar moves before the
    upload ends, the encode included, and counts in MiB as `ls --human-readable`."""
    rng = random.Random(7)
    first = rng.randbytes(64 * 1024 * 1024)
    second = bytearray(first)
    for offset in range(0, len(second), 4 * 1024 * 1024):
        second[offset : offset + 64] = rng.randbytes(64)
    (work / "v1").mkdir()
    (work / "v1" / "disk.img").write_bytes(first)
    (work / "v2").mkdir()
    (work / "v2" / "disk.img").write_bytes(bytes(second))
    target = f"s3://{backend.bucket}/images/"
    succeed(["cp", "v1/disk.img", target, "--no-progress"], backend.subprocess_env(), work)

    screen = on_a_terminal(["cp", "v2/disk.img", target], backend.subprocess_env(), work)

    frames = re.findall(r"(\d+)% of (\S+ \S+)", screen)
    assert frames, screen
    assert {total for _, total in frames} == {"64.0 MiB"}
    assert any(0 < int(percent) < 100 for percent, _ in frames), screen
    assert f"upload: v2/disk.img to {target}disk.img" in screen
    assert "Traceback" not in screen


def on_a_terminal(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> str:
    """What `deltaglider ARGS` shows on a terminal: run with a pseudo-terminal as its
    standard output, everything it draws read back."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(DELTAGLIDER), *args], env=dict(env), cwd=cwd, stdout=follower, stderr=follower
    )
    os.close(follower)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the program ended
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert process.wait(timeout=300) == 0, shown.decode(errors="replace")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode(errors="replace"))
