"""Parity with the reference: the same scripted session run with `aws s3` (AWS CLI v1)
and with `deltaglider`, compared step by step.

Method
------
* One moto S3 server (the `moto_endpoint` fixture) serves both tools; each tool gets its
  own fresh bucket (`aws-parity-<hex>` / `dg-parity-<hex>`, plus a second one for the
  mb/rb steps) and its own working directory, a `shutil.copytree(copy_function=copy2)`
  copy of one generated tree: same files, same relative paths, same mtimes.
* SESSION is the script: `Run` steps are command lines (shell-quoted, with BUCKET and
  NEW standing for the tool's buckets and WORK for its working directory), `Edit` steps
  change the working directory the same way for both tools. Both tools are run from
  their working directory with the same environment: AWS_ENDPOINT_URL (honoured by the
  AWS CLI v1 too), keys `testing`, AWS_DEFAULT_REGION=us-east-1, no config files, TZ=UTC.
  `--no-progress` is added to every command aws accepts it on (cp, mv, sync; aws
  rejects it on ls, rm, mb and rb), since aws prints progress even without a TTY.
* Normalisation, and nothing else: the tool's bucket names become BUCKET and NEW, its
  working directory WORK, timestamps the run produced (at or after the tool's session
  started: upload times, bucket dates) become `YYYY-MM-DD HH:MM:SS`, trailing whitespace
  is stripped, and stdout and stderr are compared as sorted lists of lines, since both
  tools run transfers in parallel. Timestamps from before the session, i.e. the
  generated files' own mtimes (2024-01-01 00:00:00 and 00:00:10), are the same for both
  tools and are kept: masking them too would hide which time a tool shows. For the
  bucket list (`ls` alone) only the tool's own bucket line is kept: the server holds
  other buckets too.
* Each step is one test comparing (exit status, stdout lines, stderr lines); then the
  local trees left by the session (relative path -> SHA256, and separately -> mtime,
  masked the same way) and the final remote trees (`ls --recursive`: names and sizes)
  are compared.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.artifacts import release_zip
from tests.conftest import raw_client

BIN = Path(sys.executable).parent
TOOLS = {"aws": [str(BIN / "aws"), "s3"], "deltaglider": [str(BIN / "deltaglider")]}
NO_PROGRESS_COMMANDS = {"cp", "mv", "sync"}  # where `aws s3` takes --no-progress
MTIME = 1_704_067_200  # 2024-01-01 00:00:00 UTC: every generated file's mtime
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
LS_OBJECT = re.compile(r"\S{10} \S{8} (?P<size>.{10}) (?P<name>.+)")
MASK = "YYYY-MM-DD HH:MM:SS"
SLACK = 2  # seconds: printed times are truncated to the second


# ---------------------------------------------------------------- the working tree


def make_tree(root: Path) -> None:
    """The user's files: release zips of a few versions in two directories (one with a
    nested `old/`), text files, a deeper directory, a name with a space."""
    root.mkdir(parents=True)
    data = root / "data"
    for directory in ("releases/old", "tools", "docs/deep/nested"):
        (data / directory).mkdir(parents=True)
    release_zip(root / "app-1.4.0.zip", 4, files=8, file_size=8_000)
    for version in (1, 2, 3):
        release_zip(data / f"releases/app-1.{version}.0.zip", version, files=8, file_size=8_000)
    release_zip(data / "releases/old/app-1.0.0.zip", 0, files=8, file_size=8_000)
    for version in (1, 2):
        release_zip(data / f"tools/tool-2.{version}.0.zip", version, files=6, file_size=6_000)
    (data / "docs/README.txt").write_text("Read me first.\n" * 20)
    (data / "docs/notes.txt").write_text("notes: version 1\n" * 10)
    (data / "docs/release notes.txt").write_text("1.3.0: faster\n1.2.0: smaller\n")
    (data / "docs/deep/nested/more.txt").write_text("deep\n")
    (data / "checksums.txt").write_text("".join(f"{n:064x}  file{n}\n" for n in range(5)))
    for path in root.rglob("*"):
        os.utime(path, (MTIME, MTIME))


def edit_same_size(work: Path) -> None:
    path = work / "data/docs/notes.txt"
    before = path.stat().st_size
    path.write_text("notes: version 2\n" * 10)
    assert path.stat().st_size == before
    os.utime(path, (MTIME + 10, MTIME + 10))


def edit_zip_same_size(work: Path) -> None:
    path = work / "data/releases/app-1.3.0.zip"
    before = path.stat().st_size
    release_zip(path, 5, files=8, file_size=8_000)
    assert path.stat().st_size == before
    os.utime(path, (MTIME + 10, MTIME + 10))


def edit_longer(work: Path) -> None:
    path = work / "data/checksums.txt"
    with path.open("a") as file:
        file.write(f"{99:064x}  file99\n")
    os.utime(path, (MTIME + 10, MTIME + 10))


def add_file(work: Path) -> None:
    path = work / "data/docs/added.txt"
    path.write_text("added after the first sync\n")
    os.utime(path, (MTIME + 10, MTIME + 10))


def add_links(work: Path) -> None:
    (work / "data/linked.txt").symlink_to("docs/README.txt")
    (work / "data/linkdir").symlink_to("docs", target_is_directory=True)


def delete_file(work: Path) -> None:
    (work / "data/releases/app-1.1.0.zip").unlink()


def touch_downloaded(work: Path) -> None:
    """A downloaded file made newer than its object, its size unchanged: `sync` leaves
    it, `sync --exact-timestamps` fetches it again."""
    later = time.time() + 86_400
    os.utime(work / "down1/docs/README.txt", (later, later))


# ---------------------------------------------------------------- the session


@dataclass(frozen=True)
class Run:
    """A command line, as typed after `aws s3` / `deltaglider`."""

    line: str
    own_bucket_only: bool = False  # keep only the lines naming the tool's bucket
    stdin: str | None = None  # a file of the working directory, given as standard input
    pipe: str | None = None  # a shell command that reads the tool's stdout, `head -c 0`

    @property
    def args(self) -> list[str]:
        args = shlex.split(self.line)
        return [*args, "--no-progress"] if args[0] in NO_PROGRESS_COMMANDS else args


@dataclass(frozen=True)
class Edit:
    """A change to the working directory, made the same way for both tools."""

    what: str
    change: Callable[[Path], None]


Step = Run | Edit

SESSION: list[Step] = [
    # 1. uploads
    Run("cp app-1.4.0.zip s3://BUCKET/"),
    Run("cp app-1.4.0.zip s3://BUCKET/explicit.zip"),
    Run("cp 'data/docs/release notes.txt' s3://BUCKET/"),
    Run("cp --recursive data s3://BUCKET/tree/"),
    Run(
        "cp --recursive data s3://BUCKET/filtered/"
        " --exclude '*' --include '*.zip' --exclude '*/old/*'"
    ),
    # 2. ls in every form
    Run("ls", own_bucket_only=True),
    Run("ls s3://BUCKET"),
    Run("ls s3://BUCKET/"),
    Run("ls s3://BUCKET/tree/"),
    Run("ls s3://BUCKET/tree"),
    Run("ls s3://BUCKET/tr"),
    Run("ls s3://BUCKET/tree/releases/app-1.2"),
    Run("ls 's3://BUCKET/release notes.txt'"),
    Run("ls --recursive s3://BUCKET"),
    Run("ls --recursive --human-readable --summarize s3://BUCKET/tree/"),
    Run("ls s3://BUCKET/nothing-here/"),
    # 3. sync up, twice: the second is a no-op
    Run("sync data s3://BUCKET/synced/"),
    Run("sync data s3://BUCKET/synced/"),
    # 4. local edits, then sync --delete
    Edit("rewrite data/docs/notes.txt, same size, mtime +10 s", edit_same_size),
    Edit("rewrite data/releases/app-1.3.0.zip, same size, mtime +10 s", edit_zip_same_size),
    Edit("append a line to data/checksums.txt, mtime +10 s", edit_longer),
    Edit("add data/docs/added.txt", add_file),
    Edit("delete data/releases/app-1.1.0.zip", delete_file),
    Run("sync --delete data s3://BUCKET/synced/"),
    Run("ls --recursive s3://BUCKET/synced/"),
    # 5. sync down, twice, then --delete after a remote rm
    Run("sync s3://BUCKET/synced/ down1/"),
    Run("sync s3://BUCKET/synced/ down1/"),
    Run("rm s3://BUCKET/synced/releases/app-1.2.0.zip"),
    Run("sync --delete s3://BUCKET/synced/ down1/"),
    Edit("make down1/docs/README.txt a day newer than its object", touch_downloaded),
    Run("sync s3://BUCKET/synced/ down1/"),
    Run("sync --exact-timestamps s3://BUCKET/synced/ down1/"),
    # 6. downloads with cp
    Run("cp --recursive s3://BUCKET/tree/ down2/"),
    Run("cp s3://BUCKET/tree/releases/app-1.2.0.zip down3/"),
    Run("cp s3://BUCKET/tree/releases/app-1.2.0.zip renamed.zip"),
    # 7. S3 to S3, and the output flags
    Run("cp s3://BUCKET/tree/releases/app-1.2.0.zip s3://BUCKET/copied/single.zip"),
    Run("cp --recursive s3://BUCKET/tree/ s3://BUCKET/copied/"),
    Run("ls --summarize s3://BUCKET/copied/releases/"),
    Run("sync s3://BUCKET/tree/ s3://BUCKET/mirror/"),
    Run("sync s3://BUCKET/tree/ s3://BUCKET/mirror/"),
    Run("sync data s3://BUCKET/zips-only/ --exclude '*' --include '*.zip'"),
    Run("cp --dryrun app-1.4.0.zip s3://BUCKET/dry/"),
    Run("sync --dryrun data s3://BUCKET/dry/"),
    Run("cp --quiet app-1.4.0.zip s3://BUCKET/quiet/"),
    Run("cp --recursive s3://BUCKET/tree/ down4/ --exclude '*' --include '*.txt'"),
    # 8. deletes
    Run("rm --dryrun --recursive s3://BUCKET/tree/"),
    Run("rm --recursive s3://BUCKET/filtered/ --exclude '*2*'"),
    Run("rm s3://BUCKET/explicit.zip"),
    Run("rm --recursive s3://BUCKET/tree/"),
    # 9. errors
    Run("cp missing.zip s3://BUCKET/"),
    Run("cp app-1.4.0.zip s3://no-such-bucket-xyz/"),
    Run("cp s3://BUCKET/missing.zip ."),
    Run("ls s3://no-such-bucket-xyz/"),
    Run("rm s3://BUCKET/missing.zip"),
    Run("sync missing-dir s3://BUCKET/x/"),
    Run("ls --no-such-flag s3://BUCKET/"),
    # 10. buckets
    Run("mb s3://NEW"),
    Run("mb s3://NEW"),
    Run("rb s3://NEW"),
    Run("mb s3://NEW"),
    Run("cp app-1.4.0.zip s3://NEW/"),
    Run("rb s3://NEW"),
    Run("rb --force s3://NEW"),
    # 11. streams: `-` as standard input and output, and a reader that goes away
    Run("cp - s3://BUCKET/streamed/app.zip", stdin="app-1.4.0.zip"),
    Run("cp - s3://BUCKET/streamed/", stdin="data/docs/notes.txt"),
    Run("cp s3://BUCKET/streamed/app.zip -", pipe="sha256sum"),
    Run("cp s3://BUCKET/streamed/- -"),
    Run("cp s3://BUCKET/missing.zip -"),
    Run("ls --recursive s3://BUCKET/streamed/"),
    Run("ls --recursive s3://BUCKET", pipe="head -c 0"),
    # 12. moves: local to S3, S3 to local, within S3, a tree, and one that fails
    Run("mv renamed.zip s3://BUCKET/moved/"),
    Run("mv s3://BUCKET/moved/renamed.zip moved-back.zip"),
    Run("mv s3://BUCKET/copied/single.zip s3://BUCKET/moved/"),
    Run("mv --recursive s3://BUCKET/mirror/ s3://BUCKET/mirror-moved/"),
    Run("mv --recursive down4 s3://BUCKET/down4-moved/"),
    Run("mv s3://BUCKET/missing.zip here.zip"),
    Run("ls --recursive s3://BUCKET/moved/"),
    # 13. symbolic links in a local tree: followed, or left out
    Edit("link data/linked.txt to data/docs/README.txt, data/linkdir to data/docs", add_links),
    Run("cp --recursive data s3://BUCKET/links-followed/ --exclude '*' --include 'link*'"),
    Run(
        "cp --recursive data s3://BUCKET/links-not/ --no-follow-symlinks"
        " --exclude '*' --include 'link*'"
    ),
    Run("ls --recursive s3://BUCKET/links-followed/"),
    # 14. what every request carries, and how objects are written
    Run("ls --recursive --page-size 2 --request-payer requester s3://BUCKET/moved/"),
    Run(
        "cp app-1.4.0.zip s3://BUCKET/written/ --sse --storage-class STANDARD_IA"
        " --acl bucket-owner-full-control --request-payer requester"
    ),
    Run("cp --recursive data/docs s3://BUCKET/written/docs/ --sse AES256 --page-size 3"),
    Run("sync data/docs s3://BUCKET/written/docs/ --page-size 1 --storage-class STANDARD"),
    Run("rm --recursive --page-size 2 --request-payer requester s3://BUCKET/written/docs/"),
    Run("ls --recursive s3://BUCKET/written/"),
    # 15. a presigned URL of an object stored whole: the same address, and it works
    Run("presign 's3://BUCKET/release notes.txt'", pipe="cut -d'?' -f1"),
    Run(
        "presign 's3://BUCKET/release notes.txt' --expires-in 60", pipe="xargs curl -sf | sha256sum"
    ),
]

RUNS = [(index, step) for index, step in enumerate(SESSION, start=1) if isinstance(step, Run)]

# ---------------------------------------------------------------- running it


@dataclass(frozen=True)
class Outcome:
    """A step's result, normalised: what is compared between the tools."""

    status: int
    stdout: list[str]
    stderr: list[str]


@dataclass(frozen=True)
class Session:
    """One tool's run of SESSION, and the state it left."""

    outcomes: dict[int, Outcome]
    local_tree: dict[str, str]  # relative path -> SHA256
    local_mtimes: dict[str, str]  # relative path -> mtime, masked if set during the run
    remote_tree: list[str]  # normalised `ls --recursive` lines of the bucket


@dataclass(frozen=True)
class Sandbox:
    """A tool, its buckets and working directory, and how to run it there."""

    tool: str
    bucket: str
    new_bucket: str
    work: Path
    env: Mapping[str, str]
    started: float  # when the session started, for masking the times it produced

    def run(
        self, args: list[str], stdin: str | None = None, pipe: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the tool; with `pipe`, its stdout goes through that shell command and the
        status is the tool's own."""
        names = {"BUCKET": self.bucket, "NEW": self.new_bucket, "WORK": str(self.work)}
        pattern = re.compile("|".join(names))
        command = [*TOOLS[self.tool], *(pattern.sub(lambda m: names[m[0]], a) for a in args)]
        if pipe is not None:
            script = f'"$@" | {pipe}; exit "${{PIPESTATUS[0]}}"'
            command = ["bash", "-c", script, "bash", *command]
        with open(self.work / stdin if stdin else os.devnull, "rb") as given:
            return subprocess.run(
                command,
                stdin=given,
                env=dict(self.env),
                cwd=self.work,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )

    def mask(self, moment: float) -> str:
        """A time the run produced is masked; a fixed one (a generated file's mtime,
        the same for both tools) is kept, as `YYYY-MM-DD HH:MM:SS` in UTC."""
        if moment >= self.started - SLACK:
            return MASK
        return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")

    def normalise(self, text: str) -> list[str]:
        """Sorted lines, names replaced, run times masked, trailing whitespace gone."""
        text = text.replace(self.new_bucket, "NEW").replace(self.bucket, "BUCKET")
        text = text.replace(str(self.work), "WORK")
        text = TIMESTAMP.sub(lambda m: self.mask(_epoch(m[0])), text)  # TZ=UTC: printed in UTC
        lines = text.split("\n")
        if lines[-1] == "":  # the final newline ends a line; it does not start one
            lines.pop()
        return sorted(line.rstrip() for line in lines)

    def outcome(self, step: Run) -> Outcome:
        result = self.run(step.args, step.stdin, step.pipe)
        stdout = self.normalise(result.stdout)
        if step.own_bucket_only:
            stdout = [line for line in stdout if re.search(r"\bBUCKET$", line)]
        return Outcome(result.returncode, stdout, self.normalise(result.stderr))

    def files(self) -> list[Path]:
        return sorted(path for path in self.work.rglob("*") if path.is_file())


def _epoch(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


def run_session(sandbox: Sandbox) -> Session:
    outcomes = {}
    for index, step in enumerate(SESSION, start=1):
        if isinstance(step, Edit):
            step.change(sandbox.work)
        else:
            outcomes[index] = sandbox.outcome(step)
    listing = sandbox.run(["ls", "--recursive", "s3://BUCKET"])
    names = {path: path.relative_to(sandbox.work).as_posix() for path in sandbox.files()}
    return Session(
        outcomes,
        local_tree={
            name: hashlib.sha256(path.read_bytes()).hexdigest() for path, name in names.items()
        },
        local_mtimes={name: sandbox.mask(path.stat().st_mtime) for path, name in names.items()},
        remote_tree=sandbox.normalise(listing.stdout),
    )


@pytest.fixture(scope="module")
def sessions(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Session]:
    """SESSION run by each tool in turn, on its own buckets and working directory."""
    s3_env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DG_"))}
    env = keep | s3_env | {"TZ": "UTC"}
    base = tmp_path_factory.mktemp("parity")
    make_tree(base / "template")
    client: Any = raw_client(s3_env)
    tag = uuid.uuid4().hex[:10]

    def session_of(tool: str, short: str) -> Session:
        sandbox = Sandbox(
            tool,
            bucket=f"{short}-parity-{tag}",
            new_bucket=f"{short}-parity-new-{tag}",
            work=base / tool / "work",
            env=env,
            started=time.time(),
        )
        shutil.copytree(base / "template", sandbox.work, copy_function=shutil.copy2)
        client.create_bucket(Bucket=sandbox.bucket)
        return run_session(sandbox)

    # Side by side: each tool has its own buckets and folder, and most of a session is
    # waiting for its processes to start (63 s one after the other).
    with ThreadPoolExecutor(2) as pool:
        aws = pool.submit(session_of, "aws", "aws")
        deltaglider = pool.submit(session_of, "deltaglider", "dg")
        return {"aws": aws.result(), "deltaglider": deltaglider.result()}


# ---------------------------------------------------------------- the comparisons


@pytest.mark.parametrize(
    "index",
    [pytest.param(index, id=f"{index:02d} {step.line}") for index, step in RUNS],
)
def test_step_matches_aws(sessions: dict[str, Session], index: int) -> None:
    """Same exit status, same stdout lines, same stderr lines."""
    aws = sessions["aws"].outcomes[index]
    deltaglider = sessions["deltaglider"].outcomes[index]
    assert deltaglider == aws


def test_local_trees_match(sessions: dict[str, Session]) -> None:
    """The working directories end up with the same files, byte for byte."""
    assert sessions["deltaglider"].local_tree == sessions["aws"].local_tree


def test_local_mtimes_match(sessions: dict[str, Session]) -> None:
    """Downloads get the same kind of mtime: set during the run, or a file's own."""
    assert sessions["deltaglider"].local_mtimes == sessions["aws"].local_mtimes


def test_remote_trees_match(sessions: dict[str, Session]) -> None:
    """`ls --recursive` of each tool's bucket: the same names with the same sizes."""

    def objects(listing: list[str]) -> list[tuple[str, int]]:
        found = []
        for line in listing:
            match = LS_OBJECT.fullmatch(line)
            assert match is not None, f"not an ls object line: {line!r}"
            found.append((match["name"], int(match["size"])))
        return found

    aws = sorted(objects(sessions["aws"].remote_tree))
    assert aws  # the session leaves objects behind
    assert sorted(objects(sessions["deltaglider"].remote_tree)) == aws
