"""Command-line locations: `s3://bucket/key` URIs and local paths, resolved as `aws s3` does."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from deltaglider.app.cli.aws_errors import Fatal
from deltaglider.core.models import ObjectKey

S3_SCHEME = "s3://"
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]{0,254}")


class BadLocation(Fatal):
    """A command-line path or URI that cannot be used; the message says why."""


@dataclass(frozen=True)
class S3Location:
    """`s3://bucket/key`; `key` may be empty or end in `/` (a prefix)."""

    bucket: str
    key: str

    @property
    def is_prefix(self) -> bool:
        return self.key == "" or self.key.endswith("/")

    def object_key(self) -> ObjectKey:
        return ObjectKey(self.bucket, self.key)

    def joined(self, name: str) -> S3Location:
        """The object a file called `name` lands on when copied here (`aws s3 cp` rules)."""
        return S3Location(self.bucket, self.key + name) if self.is_prefix else self

    def __str__(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.key}"


def is_s3(text: str) -> bool:
    return text.startswith(S3_SCHEME)


def parse_s3(text: str) -> S3Location:
    """Split `s3://bucket/key`; BadLocation for anything else."""
    if not is_s3(text):
        raise BadLocation(f"not an S3 URI (s3://bucket/key): {text}")
    bucket, _, key = text[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise BadLocation(f"S3 URI without a bucket name: {text}")
    if not _BUCKET.fullmatch(bucket):
        raise BadLocation(f"invalid bucket name {bucket!r} in {text}")
    return S3Location(bucket, key)


def download_target(destination: str, key: str) -> Path:
    """Where `aws s3 cp s3://b/key DEST` writes: into DEST when it is a directory
    (existing, or written with a trailing separator), else DEST itself."""
    path = Path(destination)
    if destination.endswith(("/", os.sep)) or path.is_dir():
        return path / key.rsplit("/", 1)[-1]
    return path


def relative_path(path: Path | str) -> str:
    """A local path as `aws s3` prints it: relative to the working directory, `./a.zip`."""
    absolute = os.path.abspath(path)
    directory, name = os.path.split(absolute)
    try:
        return os.path.join(os.path.relpath(directory), name)
    except ValueError:  # another drive on Windows
        return absolute
