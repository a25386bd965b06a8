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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from botocore.response import StreamingBody

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
    make_client: Callable[..., Any]  # another client like this one (kwargs override)
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
