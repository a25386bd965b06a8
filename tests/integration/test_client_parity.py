"""One module, run against plain boto3 on a plain bucket and against
`deltaglider.create_client` on the same S3 server (moto; Ceph RGW when running), and on
a local store (file://, compared with moto): every call's observable result must be
the same (tests/parity.py says what "the same" sets aside).

Real release artifacts are among the objects; in the DeltaGlider runs they are stored
as deltas (asserted), and the stored/logical figure is printed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from tests.artifacts import random_file, release_zip
from tests.parity import Subject, s3, stored_keys

__all__ = ["s3"]  # the fixture: each test runs once per client under test

MIB = 1024 * 1024
# Where a server departs from AWS (tests/parity.py).
MOTO_QUIET = {"moto": "answers Deleted entries to a Quiet DeleteObjects"}
MOTO_MD5 = {"moto": "does not check Content-MD5"}
MOTO_CONDITIONS = {
    "If-Match right, If-Unmodified-Since before": {
        "moto": "fails If-Unmodified-Since beside an If-Match that holds (S3 ignores it then)"
    },
    "If-None-Match wrong, If-Modified-Since then": {
        "moto": "answers 304 for If-Modified-Since beside an If-None-Match that holds (HTTP "
        "ignores it then)"
    },
}
COPY_CONDITIONS = {"moto": "ignores CopySourceIfMatch", "ceph": "ignores copy-source conditions"}
CEPH_ENCODING = {"ceph": "encodes / in keys, and leaves ListObjectsV2's Prefix unencoded"}
V1_QUIRKS = {
    "marker": {"moto": "leaves out the Marker it was sent"},
    # S3 sends NextMarker only with a Delimiter (its ListObjects documentation).
    "page of 3": {
        "moto": "sends a NextMarker (an ETag) without a Delimiter",
        "ceph": "sends a NextMarker without a Delimiter",
    },
    "url encoded": CEPH_ENCODING,
    "page of 1 with delimiter": {
        "moto": "sends more than MaxKeys entries, and an ETag as NextMarker"
    },
}
MAX_KEYS_ECHO = {"ceph": "answers MaxKeys 1000 when asked for more"}


class Unseekable(io.RawIOBase):
    """A body that can only be read (a pipe, a socket)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._data.readinto(buffer)


def read(response: dict[str, Any]) -> dict[str, Any]:
    """A GET's response with its body read (and hashed, to keep transcripts short)."""
    data = response["Body"].read()
    return response | {"Body": hashlib.sha256(data).hexdigest(), "Length": len(data)}


def test_objects_round_trip(s3: Subject) -> None:
    """put_object with every kind of body, then head_object and get_object of each, the
    body read in every way boto3's StreamingBody reads."""
    c, b = s3.client, s3.bucket
    zips = [release_zip(s3.tmp / f"app-{v}.zip", v, files=10, file_size=30_000) for v in range(6)]
    bodies: dict[str, Callable[[], Any]] = {
        "docs/hello.txt": lambda: b"hello world\n" * 30,
        "docs/unicode ü + ~.txt": lambda: "héllo wörld\nsecond line\n",
        "docs/bytearray.bin": lambda: bytearray(b"\x00\x01" * 100),
        "docs/empty": lambda: b"",
        "releases/app-0.zip": zips[0].read_bytes,
        "releases/app-1.zip": lambda: zips[1].open("rb"),
        "releases/app-2.zip": lambda: io.BytesIO(zips[2].read_bytes()),
        "releases/app-3.zip": lambda: io.BufferedReader(Unseekable(zips[3].read_bytes())),
    }
    for key, body in bodies.items():
        extra: dict[str, Any] = {}
        if key.endswith(".txt"):
            extra = {
                "ContentType": "text/plain; charset=utf-8",
                "Metadata": {"Build": "42", "origin": "ci"},
                "CacheControl": "max-age=600",
                "ContentDisposition": 'attachment; filename="notes.txt"',
                "ContentLanguage": "en",
                "Expires": datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC),
            }
        if key == "releases/app-1.zip":  # the headers of a delta-stored object too
            extra = {"CacheControl": "no-cache", "ContentEncoding": "identity"}
        payload = body()
        if key == "releases/app-3.zip" and not s3.is_deltaglider:
            payload = zips[3].read_bytes()  # botocore cannot send a body it cannot seek in
        s3.record(f"put {key}", c.put_object(Bucket=b, Key=key, Body=payload, **extra))
    for version in (4, 5):
        data = zips[version].read_bytes()
        md5 = hashlib.md5(data).digest()
        put = c.put_object(
            Bucket=b,
            Key=f"releases/app-{version}.zip",
            Body=data,
            ContentMD5=base64.b64encode(md5).decode(),
        )
        s3.record(f"put app-{version} with Content-MD5", put)
        assert put["ETag"] == f'"{md5.hex()}"'
    keys = [*bodies, "releases/app-4.zip", "releases/app-5.zip"]
    for key in keys:
        head = c.head_object(Bucket=b, Key=key)
        s3.record(f"head {key}", head)
        got = c.get_object(Bucket=b, Key=key)
        s3.record(f"get {key}", read(got))
        assert (got["ETag"], got["ContentLength"]) == (head["ETag"], head["ContentLength"])
    text = "releases/app-4.zip"
    data = zips[4].read_bytes()
    body = c.get_object(Bucket=b, Key=text)["Body"]
    assert body.read(5) + body.read(10) + body.read() == data
    assert b"".join(c.get_object(Bucket=b, Key=text)["Body"].iter_chunks(chunk_size=4096)) == data
    lines = c.get_object(Bucket=b, Key="docs/hello.txt")["Body"].iter_lines()
    assert list(lines) == [b"hello world"] * 30
    with c.get_object(Bucket=b, Key=text)["Body"] as raw:  # urllib3's response, for boto3
        assert raw.read() == data
    s3.record("list", c.list_objects_v2(Bucket=b))
    if s3.is_deltaglider:
        stored = stored_keys(s3, "releases/")
        assert {f"releases/app-{v}.zip.delta" for v in range(6)} <= set(stored)
        assert not any(k.endswith(".zip") for k in stored)
        logical = sum(len(z.read_bytes()) for z in zips)
        total = sum(stored.values())
        print(
            f"\n[client] {s3.name}: 6 release zips, logical {logical:,} B, "
            f"stored {total:,} B ({100 * total / logical:.1f}%)"
        )


def test_ranges_and_conditions(s3: Subject) -> None:
    c, b = s3.client, s3.bucket
    data = release_zip(s3.tmp / "app.zip", 1).read_bytes()
    c.put_object(Bucket=b, Key="r/app.zip", Body=data)
    for wanted in ("bytes=0-9", "bytes=100-", "bytes=-16", f"bytes=10-{len(data) + 50}"):
        got = read(c.get_object(Bucket=b, Key="r/app.zip", Range=wanted))
        s3.record(f"get {wanted}", got)
        s3.record(f"head {wanted}", c.head_object(Bucket=b, Key="r/app.zip", Range=wanted))
    assert c.get_object(Bucket=b, Key="r/app.zip", Range="bytes=0-9")["Body"].read() == data[:10]
    failed = s3.error(lambda: c.get_object(Bucket=b, Key="r/app.zip", Range=f"bytes={len(data)}-"))
    s3.record("get past the end", failed)
    assert (failed["Error"]["Code"], failed["Status"]) == ("InvalidRange", 416)
    head = c.head_object(Bucket=b, Key="r/app.zip")
    etag, modified = head["ETag"], head["LastModified"]
    before = modified - timedelta(days=1)  # (a time to come would be ignored, as invalid)
    cases: dict[str, dict[str, Any]] = {
        "If-Match right": {"IfMatch": etag},
        "If-Match wrong": {"IfMatch": '"0123456789abcdef0123456789abcdef"'},
        "If-Match *": {"IfMatch": "*"},  # no wildcard: S3 compares the value sent
        "If-None-Match *": {"IfNoneMatch": "*"},
        "If-None-Match right": {"IfNoneMatch": etag},
        "If-None-Match wrong": {"IfNoneMatch": '"0123456789abcdef0123456789abcdef"'},
        "If-Modified-Since before": {"IfModifiedSince": before},
        "If-Modified-Since then": {"IfModifiedSince": modified},
        "If-Unmodified-Since before": {"IfUnmodifiedSince": before},
        "If-Unmodified-Since then": {"IfUnmodifiedSince": modified},
        "If-Match right, If-Unmodified-Since before": {
            "IfMatch": etag,
            "IfUnmodifiedSince": before,
        },
        "If-None-Match wrong, If-Modified-Since then": {
            "IfNoneMatch": '"00"',
            "IfModifiedSince": modified,
        },
    }
    expected = {
        "If-Match wrong": 412,
        "If-Match *": 412,
        "If-None-Match right": 304,
        "If-Modified-Since then": 304,
        "If-Unmodified-Since before": 412,
    }
    for label, conditions in cases.items():
        for operation in ("get_object", "head_object"):
            call = getattr(c, operation)
            outcome = s3.outcome(
                lambda call=call, conditions=conditions: call(
                    Bucket=b, Key="r/app.zip", **conditions
                )
            )
            quirks = MOTO_CONDITIONS.get(label)
            if not s3.record(f"{operation} {label}", outcome, quirks=quirks):
                continue
            status = expected.get(label, 200)
            assert outcome["Status"] == status, (operation, label)
            if status == 412 and operation == "get_object":
                assert outcome["Error"]["Code"] == "PreconditionFailed"
            elif status != 200:  # no body to say more: the status as botocore shows it
                phrase = {304: "Not Modified", 412: "Precondition Failed"}[status]
                assert outcome["Error"] == {"Code": str(status), "Message": phrase}


def test_errors(s3: Subject) -> None:
    """Every error code these calls can meet, with the exception class boto3 raises."""
    c, b = s3.client, s3.bucket
    missing = "dg-client-never-created"
    c.put_object(Bucket=b, Key="there.txt", Body=b"here")
    cases: dict[str, Callable[[], Any]] = {
        "get missing key": lambda: c.get_object(Bucket=b, Key="nope/app.zip"),
        "get missing bucket": lambda: c.get_object(Bucket=missing, Key="k"),
        "head missing key": lambda: c.head_object(Bucket=b, Key="nope.txt"),
        "head missing bucket": lambda: c.head_object(Bucket=missing, Key="k"),
        "put missing bucket": lambda: c.put_object(Bucket=missing, Key="k", Body=b"x"),
        "delete missing bucket": lambda: c.delete_object(Bucket=missing, Key="k"),
        "delete_objects missing bucket": lambda: c.delete_objects(
            Bucket=missing, Delete={"Objects": [{"Key": "k"}]}
        ),
        "copy missing source key": lambda: c.copy_object(
            Bucket=b, Key="c", CopySource={"Bucket": b, "Key": "nope"}
        ),
        "copy missing destination bucket": lambda: c.copy_object(
            Bucket=missing, Key="c", CopySource=f"{b}/there.txt"
        ),
        "copy onto itself": lambda: c.copy_object(
            Bucket=b, Key="there.txt", CopySource=f"{b}/there.txt"
        ),
        "list missing bucket": lambda: c.list_objects_v2(Bucket=missing),
        "list v1 missing bucket": lambda: c.list_objects(Bucket=missing),
        "head_bucket missing": lambda: c.head_bucket(Bucket=missing),
        "location missing": lambda: c.get_bucket_location(Bucket=missing),
        "delete_bucket missing": lambda: c.delete_bucket(Bucket=missing),
        "delete_bucket not empty": lambda: c.delete_bucket(Bucket=b),
        "location constraint us-east-1": lambda: c.create_bucket(
            Bucket=missing, CreateBucketConfiguration={"LocationConstraint": "us-east-1"}
        ),
        "abort unknown upload": lambda: c.abort_multipart_upload(
            Bucket=b, Key="k", UploadId="nope"
        ),
    }
    codes = {
        "get missing key": "NoSuchKey",
        "get missing bucket": "NoSuchBucket",
        "head missing key": "404",
        "head missing bucket": "404",
        "put missing bucket": "NoSuchBucket",
        "delete missing bucket": "NoSuchBucket",
        "delete_objects missing bucket": "NoSuchBucket",
        "copy missing source key": "NoSuchKey",
        "copy missing destination bucket": "NoSuchBucket",
        "copy onto itself": "InvalidRequest",
        "list missing bucket": "NoSuchBucket",
        "list v1 missing bucket": "NoSuchBucket",
        "head_bucket missing": "404",
        "location missing": "NoSuchBucket",
        "delete_bucket missing": "NoSuchBucket",
        "delete_bucket not empty": "BucketNotEmpty",
        "location constraint us-east-1": "InvalidLocationConstraint",
        "abort unknown upload": "NoSuchUpload",
    }
    for label, call in cases.items():
        failed = s3.error(call)
        s3.record(label, failed)
        assert failed["Error"]["Code"] == codes[label], label
    with pytest.raises(c.exceptions.NoSuchKey):
        c.get_object(Bucket=b, Key="nope")
    with pytest.raises(c.exceptions.NoSuchBucket):
        c.list_objects_v2(Bucket=missing)
    data = b"abc"
    wrong = "1B2M2Y8AsgTpgAmY7PhCfg=="  # the MD5 of nothing
    failed = s3.outcome(lambda: c.put_object(Bucket=b, Key="m", Body=data, ContentMD5=wrong))
    if s3.record("put with a wrong Content-MD5", failed, quirks=MOTO_MD5):
        assert (failed["Error"]["Code"], failed["Status"]) == ("BadDigest", 400)


def test_listing(s3: Subject) -> None:
    c, b = s3.client, s3.bucket
    keys = [
        "a.txt",
        "a/b.txt",
        "a/b/c.txt",
        "a/b-c.txt",
        "a+b/plus.txt",
        "sp ace/x.txt",
        "ü/unicode.txt",
        "rel/app-1.zip",
        "rel/app-2.zip",
        "rel/app-1.zip-notes.txt",
        "rel/sub/app-3.zip",
        "z-last.txt",
    ]
    for index, key in enumerate(keys):
        body = (
            release_zip(s3.tmp / "a.zip", index).read_bytes()
            if key.endswith(".zip")
            else key.encode()
        )
        c.put_object(Bucket=b, Key=key, Body=body)
    calls: dict[str, dict[str, Any]] = {
        "all": {},
        "prefix": {"Prefix": "a/"},
        "delimiter": {"Delimiter": "/"},
        "prefix and delimiter": {"Prefix": "rel/", "Delimiter": "/"},
        "other delimiter": {"Delimiter": "-"},
        "url encoded": {"EncodingType": "url", "Delimiter": "/"},
        "url encoded keys": {"EncodingType": "url", "Prefix": "sp ace/"},
        "start after": {"StartAfter": "a/b.txt"},
        "page of 3": {"MaxKeys": 3},
        "page of 2 with delimiter": {"MaxKeys": 2, "Delimiter": "/"},
        "none": {"MaxKeys": 0},
        "no match": {"Prefix": "nothing-here/"},
        "fetch owner": {"FetchOwner": True, "Prefix": "rel/"},
    }
    for label, arguments in calls.items():
        quirks = CEPH_ENCODING if "EncodingType" in arguments else None
        s3.record(f"v2 {label}", c.list_objects_v2(Bucket=b, **arguments), quirks=quirks)
    listed = c.list_objects_v2(Bucket=b)
    assert [item["Key"] for item in listed["Contents"]] == sorted(keys, key=lambda k: k.encode())
    pages, token = [], None
    while True:
        page = c.list_objects_v2(
            Bucket=b, MaxKeys=5, **({"ContinuationToken": token} if token else {})
        )
        pages.append([item["Key"] for item in page.get("Contents", [])])
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    s3.record("v2 pages of 5", pages)
    for label, arguments in {
        "all": {},
        "delimiter": {"Delimiter": "/", "Prefix": "rel/"},
        "marker": {"Marker": "a/b.txt"},
        "page of 3": {"MaxKeys": 3},
        "url encoded": {"EncodingType": "url", "Prefix": "sp ace/"},
        "page of 1 with delimiter": {"MaxKeys": 1, "Delimiter": "/", "Prefix": "rel/"},
    }.items():
        s3.record(f"v1 {label}", c.list_objects(Bucket=b, **arguments), quirks=V1_QUIRKS.get(label))
    s3.record("v2 more than 1000", c.list_objects_v2(Bucket=b, MaxKeys=2000), quirks=MAX_KEYS_ECHO)


def test_paginators_over_1000_keys(s3: Subject) -> None:
    """More keys than one page holds, written by a thread pool sharing the one client."""
    c, b = s3.client, s3.bucket
    keys = [f"many/{i:04d}.txt" for i in range(1040)] + [f"many/sub{i}/x.txt" for i in range(3)]
    zips = {
        f"many/app-{v}.zip": release_zip(s3.tmp / f"app-{v}.zip", v).read_bytes() for v in range(3)
    }
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda k: c.put_object(Bucket=b, Key=k, Body=k.encode()), keys))
        list(pool.map(lambda kv: c.put_object(Bucket=b, Key=kv[0], Body=kv[1]), zips.items()))
    every = sorted([*keys, *zips])
    v2 = c.get_paginator("list_objects_v2")
    pages = list(v2.paginate(Bucket=b, Prefix="many/"))
    s3.record("v2 pages", [[i["Key"] for i in p.get("Contents", [])] for p in pages])
    assert [i["Key"] for p in pages for i in p.get("Contents", [])] == every
    assert len(pages) == 2
    s3.record("v2 search", list(v2.paginate(Bucket=b).search("Contents[].Size")))
    small = v2.paginate(Bucket=b, Prefix="many/", Delimiter="/", PaginationConfig={"PageSize": 400})
    s3.record("v2 delimited pages", [(p["KeyCount"], p.get("CommonPrefixes")) for p in small])
    s3.record(
        "v2 max items",
        list(v2.paginate(Bucket=b, PaginationConfig={"MaxItems": 1010}).search("Contents[].Key")),
    )
    v1 = c.get_paginator("list_objects")
    s3.record("v1 pages", [len(p.get("Contents", [])) for p in v1.paginate(Bucket=b)])
    s3.record("v1 search", list(v1.paginate(Bucket=b, Prefix="many/").search("Contents[].Key")))
    with ThreadPoolExecutor(10) as pool:
        got = list(pool.map(lambda k: c.get_object(Bucket=b, Key=k)["Body"].read(), zips))
    assert got == list(zips.values())


def test_delete_and_copy(s3: Subject) -> None:
    c, b = s3.client, s3.bucket
    data = {
        f"d/app-{v}.zip": release_zip(s3.tmp / f"app-{v}.zip", v).read_bytes() for v in range(3)
    }
    data["d/notes.txt"] = b"notes\n"
    for key, body in data.items():
        c.put_object(
            Bucket=b, Key=key, Body=body, Metadata={"k": key}, ContentType="application/zip",
            CacheControl="max-age=60", Expires="2030-06-01T00:00:00Z",
        )  # fmt: skip
    s3.record(
        "copy by string", c.copy_object(Bucket=b, Key="e/app-0.zip", CopySource=f"{b}/d/app-0.zip")
    )
    s3.record(
        "copy by dict, REPLACE",
        c.copy_object(
            Bucket=b,
            Key="e/app-1.zip",
            CopySource={"Bucket": b, "Key": "d/app-1.zip"},
            MetadataDirective="REPLACE",
            Metadata={"new": "yes"},
            ContentType="application/x-zip",
            ContentDisposition="inline",
        ),
    )
    s3.record(
        "copy onto itself, REPLACE",
        c.copy_object(
            Bucket=b,
            Key="d/notes.txt",
            CopySource=f"{b}/d/notes.txt",
            MetadataDirective="REPLACE",
            Metadata={"edited": "1"},
        ),
    )
    etag = c.head_object(Bucket=b, Key="d/app-2.zip")["ETag"]
    s3.record(
        "copy If-Match right",
        c.copy_object(
            Bucket=b, Key="e/app-2.zip", CopySource=f"{b}/d/app-2.zip", CopySourceIfMatch=etag
        ),
    )
    failed = s3.outcome(
        lambda: c.copy_object(
            Bucket=b, Key="e/x.zip", CopySource=f"{b}/d/app-2.zip", CopySourceIfMatch='"00"'
        )
    )
    if s3.record("copy If-Match wrong", failed, quirks=COPY_CONDITIONS):
        assert failed["Error"]["Code"] == "PreconditionFailed"
    for key in ("e/app-0.zip", "e/app-1.zip", "d/notes.txt", "e/app-2.zip"):
        s3.record(f"head {key}", c.head_object(Bucket=b, Key=key))
        s3.record(f"get {key}", read(c.get_object(Bucket=b, Key=key)))
    if s3.is_deltaglider:
        assert "e/app-1.zip.delta" in stored_keys(s3, "e/")
    s3.record("delete", c.delete_object(Bucket=b, Key="d/app-0.zip"))
    s3.record("delete again", c.delete_object(Bucket=b, Key="d/app-0.zip"))
    request = {
        "Objects": [{"Key": "d/app-1.zip"}, {"Key": "d/never-there.zip"}, {"Key": "d/notes.txt"}]
    }
    s3.record("delete_objects", c.delete_objects(Bucket=b, Delete=request))
    quiet = c.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "d/app-2.zip"}], "Quiet": True})
    if s3.record("delete_objects quiet", quiet, quirks=MOTO_QUIET):
        assert "Deleted" not in quiet
    s3.record("list after deletes", c.list_objects_v2(Bucket=b, Delimiter="/"))
    assert stored_keys(s3, "d/") == {}  # nothing left behind: no reference, no index


def test_transfers(s3: Subject) -> None:
    """upload_file/upload_fileobj/download_file/download_fileobj, below and above a
    lowered multipart threshold: the same ETags (multipart ones too) and callbacks."""
    c, b = s3.client, s3.bucket
    config = TransferConfig(
        multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4
    )
    big = random_file(s3.tmp / "big.bin", 12 * MIB + 12_345, seed=7)
    release = release_zip(s3.tmp / "app-1.zip", 1)
    sent: list[int] = []
    extra = {
        "ContentType": "application/octet-stream",
        "Metadata": {"a": "1"},
        "CacheControl": "public",
        "ContentLanguage": "de",
    }
    c.upload_file(str(big), b, "t/big.bin", Callback=sent.append, Config=config, ExtraArgs=extra)
    s3.record("upload_file multipart: bytes called back", sum(sent))
    s3.record("upload_file multipart: head", c.head_object(Bucket=b, Key="t/big.bin"))
    assert c.head_object(Bucket=b, Key="t/big.bin")["ETag"].endswith('-3"')
    sent.clear()
    with release.open("rb") as stream:
        c.upload_fileobj(stream, b, "t/app-1.zip", Callback=sent.append, Config=config)
    s3.record("upload_fileobj: bytes called back", sum(sent))
    s3.record("upload_fileobj: head", c.head_object(Bucket=b, Key="t/app-1.zip"))
    sent.clear()
    c.upload_fileobj(
        io.BytesIO(big.read_bytes()), b, "t/big-2.bin", Callback=sent.append, Config=config
    )
    s3.record(
        "upload_fileobj multipart: head", (sum(sent), c.head_object(Bucket=b, Key="t/big-2.bin"))
    )
    for key, original in (("t/big.bin", big), ("t/app-1.zip", release)):
        received: list[int] = []
        out = s3.tmp / "out" / key
        out.parent.mkdir(parents=True, exist_ok=True)
        c.download_file(b, key, str(out), Callback=received.append, Config=config)
        assert out.read_bytes() == original.read_bytes()
        s3.record(f"download_file {key}: bytes called back", sum(received))
        buffer = io.BytesIO()
        c.download_fileobj(b, key, buffer, Config=config)
        assert buffer.getvalue() == original.read_bytes()
    c.copy({"Bucket": b, "Key": "t/big.bin"}, b, "t/big-copy.bin", Config=config)
    s3.record("managed copy (multipart)", c.head_object(Bucket=b, Key="t/big-copy.bin"))
    failed = s3.error(lambda: c.download_file(b, "t/nope.bin", str(s3.tmp / "nope")))
    s3.record("download_file of a missing key", failed)


def test_buckets(s3: Subject) -> None:
    c = s3.client
    name = s3.named(f"dg-client-{uuid.uuid4().hex[:12]}")
    s3.record("create", c.create_bucket(Bucket=name))
    s3.record("create again (us-east-1)", c.create_bucket(Bucket=name))
    s3.record("head", c.head_bucket(Bucket=name))
    s3.record("location", c.get_bucket_location(Bucket=name))
    listed = c.list_buckets()
    assert name in [bucket["Name"] for bucket in listed["Buckets"]]
    s3.record("list_buckets shape", sorted(listed), quirks=None)
    assert all(isinstance(bucket["CreationDate"], datetime) for bucket in listed["Buckets"])
    c.put_object(
        Bucket=name, Key="rel/app-1.zip", Body=release_zip(s3.tmp / "a.zip", 1).read_bytes()
    )
    s3.record("delete not empty", s3.error(lambda: c.delete_bucket(Bucket=name)))
    c.delete_object(Bucket=name, Key="rel/app-1.zip")
    s3.record("delete emptied", c.delete_bucket(Bucket=name))
    s3.record("head deleted", s3.error(lambda: c.head_bucket(Bucket=name)))


def test_one_client_in_a_thread_pool(s3: Subject) -> None:
    """Writers and readers of one DeltaSpace at once, through one client."""
    c, b = s3.client, s3.bucket
    files = {
        f"pool/app-{v}.zip": release_zip(s3.tmp / f"app-{v}.zip", v).read_bytes() for v in range(12)
    }

    def write_then_read(item: tuple[str, bytes]) -> tuple[str, str, bool]:
        key, data = item
        etag = c.put_object(Bucket=b, Key=key, Body=data)["ETag"]
        return key, etag, c.get_object(Bucket=b, Key=key)["Body"].read() == data

    with ThreadPoolExecutor(8) as pool:
        results = sorted(pool.map(write_then_read, files.items()))
    s3.record("etags", results)
    assert all(ok for _, _, ok in results)


@pytest.mark.corpus
def test_release_corpus(s3: Subject) -> None:
    """A real release series (benchmarks/corpus/fetch.sh) through upload_file and back."""
    root = os.environ.get("DG_TEST_CORPUS")
    if not root:
        pytest.skip("DG_TEST_CORPUS not set (make test fetches the corpus)")
    c, b = s3.client, s3.bucket
    files = sorted(p for p in (Path(root) / "pip-wheels").iterdir() if p.suffix == ".whl")
    assert len(files) >= 5, "corpus series pip-wheels is incomplete"
    for path in files:
        sent: list[int] = []
        c.upload_file(str(path), b, f"corpus/{path.name}", Callback=sent.append)
        s3.record(
            f"upload {path.name}", (sum(sent), c.head_object(Bucket=b, Key=f"corpus/{path.name}"))
        )
    for path in files:
        buffer = io.BytesIO()
        c.download_fileobj(b, f"corpus/{path.name}", buffer)
        assert buffer.getvalue() == path.read_bytes(), path.name
    s3.record("listing", c.list_objects_v2(Bucket=b, Prefix="corpus/"))
    if s3.is_deltaglider:
        stored = stored_keys(s3, "corpus/")
        deltas = sum(key.endswith(".whl.delta") for key in stored)
        assert deltas == len(files)
        logical = sum(p.stat().st_size for p in files)
        print(
            f"\n[client] {s3.name}: pip-wheels, {len(files)} files as {deltas} deltas: logical "
            f"{logical:,} B, stored {sum(stored.values()):,} B "
            f"({100 * sum(stored.values()) / logical:.1f}%)"
        )
