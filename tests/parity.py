"""Running one test body against plain boto3 and against DeltaGlider's client, and
comparing what every call observably returned.

A test records each call's outcome (`Subject.record`): the response, or the error
raised, normalised so that only what may differ between two correct answers is set
aside: request ids, times (checked to be timezone-aware datetimes), owners, opaque
tokens and upload ids, URLs. The run against plain boto3 on a server keeps its
transcript; the DeltaGlider run on the same server (the local store's is compared with
moto's) must record the same outcomes in the same order.

S3 servers differ from AWS, and from each other, in places. Where a test knows the
reference server departs from AWS's documented behaviour, it says so (`quirks`): that
outcome is not compared, and the test's own assertions (AWS's behaviour) are not made
of plain boto3 there; the DeltaGlider run is still held to them. Ceph RGW sends no
error messages and adds BucketName to every error, so its errors compare by code.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from deltaglider import create_client
from tests.conftest import _ceph_env

QUIRK = "<quirk>"
# Error fields compared besides Code and Message: those AWS documents and moto sends.
ERROR_FIELDS = ("Key", "BucketName", "Condition", "RangeRequested", "ActualObjectSize", "UploadId")
OPAQUE = {
    "RequestId", "HostId", "Owner", "Initiator", "UploadId", "NextUploadIdMarker",
    "ContinuationToken", "NextContinuationToken", "Location",
}  # fmt: skip


@dataclass
class Subject:
    """A client under test, on one server, with a fresh bucket."""

    kind: str  # "boto3" or "deltaglider"
    server: str  # "moto", "ceph" or "file"
    client: Any
    bucket: str
    tmp: Path
    raw: Any  # plain boto3 on the same server, or None for the local store
    root: Path | None = None  # the local store's directory
    reference: list[tuple[str, Any]] | None = None  # plain boto3's transcript
    transcript: list[tuple[str, Any]] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # bucket names, as recorded

    def __post_init__(self) -> None:
        self.names[self.bucket] = "<bucket>"

    def named(self, bucket: str) -> str:
        """A bucket this run made, recorded under a name both runs share."""
        self.names[bucket] = f"<bucket {len(self.names)}>"
        return bucket

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.server}"

    @property
    def is_deltaglider(self) -> bool:
        return self.kind == "deltaglider"

    def record(self, label: str, outcome: Any, quirks: Mapping[str, str] | None = None) -> bool:
        """Keep (plain boto3) or compare (DeltaGlider) one normalised outcome. False when
        this is plain boto3 on a server known to depart from AWS here."""
        reference_server = "moto" if self.server == "file" else self.server
        quirky = reference_server in (quirks or {})
        normal = QUIRK if quirky else normalised(outcome, self.server, self.names)
        if not self.is_deltaglider:
            self.transcript.append((label, normal))
            return not quirky
        assert self.reference is not None
        index = len(self.transcript)
        self.transcript.append((label, normal))
        assert index < len(self.reference), f"{label}: recorded beyond plain boto3's run"
        expected_label, expected = self.reference[index]
        assert label == expected_label, f"call {index}: {label} where boto3 had {expected_label}"
        if expected not in (QUIRK, normal):
            raise AssertionError(
                f"{label}: DeltaGlider's client and boto3 differ\n"
                f"  boto3:       {expected!r}\n  deltaglider: {normal!r}"
            )
        return True

    def error(self, call: Callable[[], Any]) -> dict[str, Any]:
        """The ClientError a call raises, as botocore made it: the exception class is the
        client's own for the code (`client.exceptions.NoSuchKey`)."""
        try:
            call()
        except ClientError as exc:
            raised = exc
        else:
            raise AssertionError("no error raised")
        code = raised.response["Error"]["Code"]
        assert type(raised) is self.client.exceptions.from_code(code)
        return {
            "Error": raised.response["Error"],
            "Status": raised.response["ResponseMetadata"]["HTTPStatusCode"],
            "Operation": raised.operation_name,
        }

    def outcome(self, call: Callable[[], Any]) -> dict[str, Any]:
        """What a call returns (its body read and hashed), or the error it raises; with
        the HTTP status as `Status` either way."""
        try:
            response = call()
        except ClientError:
            return self.error(call)
        if "Body" in response:
            data = response["Body"].read()
            response = response | {"Body": hashlib.sha256(data).hexdigest(), "Length": len(data)}
        return response | {"Status": response["ResponseMetadata"]["HTTPStatusCode"]}

    def finish(self) -> None:
        if self.is_deltaglider and self.reference is not None:
            assert len(self.transcript) == len(self.reference), "fewer calls than plain boto3"


def normalised(value: Any, server: str, names: Mapping[str, str]) -> Any:
    """What must be equal between two correct answers (see the module's docstring)."""
    if isinstance(value, str):
        for name, shown in names.items():
            value = value.replace(name, shown)
        return value
    if isinstance(value, StreamingBody):
        raise AssertionError("read the body before recording it")
    if isinstance(value, datetime.datetime):
        assert value.tzinfo is not None, "a naive datetime"
        return "<time>"
    if isinstance(value, Mapping):
        return _mapping(value, server, names)
    if isinstance(value, list | tuple):
        items = [normalised(v, server, names) for v in value]
        if items and all(isinstance(i, dict) and set(i) == {"Key"} for i in items):
            items.sort(key=lambda i: i["Key"])  # Ceph answers DeleteObjects in its own order
        return items
    return value


def _mapping(value: Mapping[str, Any], server: str, names: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, item in value.items():
        if key == "ResponseMetadata":
            found["Status"] = item["HTTPStatusCode"]
        elif key == "Error":
            found[key] = normalised(_error(item, server), server, names)
        elif key in OPAQUE:
            found[key] = "<opaque>"
        elif key == "ETag" and isinstance(item, str):
            found[key] = item.strip('"')  # Ceph RGW leaves a CopyObject's ETag unquoted
        elif key == "VersionId" and item == "null":
            continue  # moto names the version of unversioned objects after multipart uploads
        elif item == "" and key in ("Marker", "Prefix", "KeyMarker", "UploadIdMarker"):
            continue  # sent empty by some servers, left out by others
        else:
            found[key] = normalised(item, server, names)
    return found


def _error(error: Mapping[str, Any], server: str) -> dict[str, Any]:
    if server == "ceph":
        return {"Code": error["Code"]}
    return {k: error[k] for k in ("Code", "Message", *ERROR_FIELDS) if k in error}


SUBJECTS = ("boto3-moto", "deltaglider-moto", "boto3-ceph", "deltaglider-ceph", "deltaglider-file")
CONFIG = Config(
    s3={"addressing_style": "path"},
    request_checksum_calculation="when_required",  # Ceph RGW takes no CRC checksums
    response_checksum_validation="when_required",
)
_REFERENCES: dict[tuple[str, str], list[tuple[str, Any]]] = {}  # (test, server): transcript


@pytest.fixture(params=SUBJECTS)
def s3(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Subject]:
    """The client under test. A DeltaGlider run compares with plain boto3's run of the
    same test on the same server (made first if it has not run)."""
    for variable in list(os.environ):
        if variable.startswith(("AWS_", "DG_")) and not variable.startswith("DG_TEST_"):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    kind, server = str(request.param).split("-")
    reference_server = "moto" if server == "file" else server
    name = request.function.__name__
    if kind == "deltaglider" and (name, reference_server) not in _REFERENCES:
        plain = _subject("boto3", reference_server, request, tmp_path_factory.mktemp("boto3"))
        request.function(plain)
        _REFERENCES[(name, reference_server)] = plain.transcript
    subject = _subject(kind, server, request, tmp_path)
    if kind == "deltaglider":
        subject.reference = _REFERENCES[(name, reference_server)]
    yield subject
    if kind == "boto3":
        _REFERENCES[(name, server)] = subject.transcript
    subject.finish()


def _kwargs(server: str, request: pytest.FixtureRequest, root: Path) -> dict[str, Any]:
    if server == "file":
        return {
            "endpoint_url": root.as_uri(),
            "region_name": "us-east-1",
            "aws_access_key_id": "unused",
            "aws_secret_access_key": "unused",
        }
    if server == "moto":
        endpoint, key, secret = request.getfixturevalue("moto_endpoint"), "testing", "testing"
    else:
        env = _ceph_env()
        if env is None:
            pytest.skip("Ceph RGW not running (make test starts it: DG_TEST_CEPH_ENDPOINT)")
        endpoint, key, secret = (
            env["AWS_ENDPOINT_URL"],
            env["AWS_ACCESS_KEY_ID"],
            env["AWS_SECRET_ACCESS_KEY"],
        )
    return {
        "endpoint_url": endpoint,
        "aws_access_key_id": key,
        "aws_secret_access_key": secret,
        "region_name": "us-east-1",
        "config": CONFIG,
    }


def _subject(kind: str, server: str, request: pytest.FixtureRequest, tmp: Path) -> Subject:
    root = tmp / "store"
    root.mkdir()
    kwargs = _kwargs(server, request, root)
    client = boto3.client("s3", **kwargs) if kind == "boto3" else create_client(**kwargs)
    bucket = f"dg-client-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    raw = None if server == "file" else boto3.client("s3", **kwargs)
    return Subject(kind, server, client, bucket, tmp, raw, root if server == "file" else None)


def stored_keys(s3: Subject, prefix: str) -> dict[str, int]:
    """What the store really holds under `prefix` (key: size)."""
    if s3.root is not None:
        base = s3.root / s3.bucket
        return {
            str(p.relative_to(base)): p.stat().st_size
            for p in base.rglob("*")
            if p.is_file()
            and ".dg-meta.json" not in p.name
            and str(p.relative_to(base)).startswith(prefix)
        }
    pages = s3.raw.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix)
    return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}
