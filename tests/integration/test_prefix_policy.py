"""A user allowed to write under one prefix only can use every command there (bug 5).

Real S3 enforces bucket policies; of the test servers only Ceph RGW does, so this runs
there: a second Ceph user gets `s3:PutObject`, `GetObject` and `DeleteObject` on
`releases/*` and `s3:ListBucket` on the bucket, nothing else, as a CI user often has.
Nothing DeltaGlider writes (references, probes, indexes, gc locks) may land outside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.artifacts import release_zip
from tests.conftest import make_backend, raw_client

DELTAGLIDER = Path(sys.executable).with_name("deltaglider")


def test_a_user_limited_to_one_prefix_can_upload_read_delete_and_gc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = make_backend("ceph", tmp_path, None, monkeypatch)
    user = os.environ.get("DG_TEST_CEPH_LIMITED_USER")
    if user is None:
        pytest.skip("this Ceph has no second user (scripts/ceph-rgw.sh makes one)")
    allowed = f"arn:aws:s3:::{backend.bucket}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam:::user/{user}"]},
                "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
                "Resource": [f"{allowed}/releases/*"],
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam:::user/{user}"]},
                "Action": ["s3:ListBucket"],
                "Resource": [allowed],
            },
        ],
    }
    admin = raw_client(backend.env)
    admin.put_bucket_policy(Bucket=backend.bucket, Policy=json.dumps(policy))  # type: ignore[attr-defined]
    env = backend.subprocess_env() | {
        "AWS_ACCESS_KEY_ID": os.environ["DG_TEST_CEPH_LIMITED_ACCESS_KEY"],
        "AWS_SECRET_ACCESS_KEY": os.environ["DG_TEST_CEPH_LIMITED_SECRET_KEY"],
    }

    def deltaglider(*arguments: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(DELTAGLIDER), *arguments], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, (arguments, done.stdout, done.stderr)
        return done

    builds = [release_zip(tmp_path / f"app-{v}.zip", v) for v in range(3)]
    target = f"s3://{backend.bucket}/releases/"
    for path in builds:
        deltaglider("cp", str(path), target, "--no-progress")
    assert "app-2.zip" in deltaglider("ls", target).stdout
    deltaglider("cp", f"{target}app-2.zip", str(tmp_path / "back.zip"), "--no-progress")
    assert (tmp_path / "back.zip").read_bytes() == builds[2].read_bytes()
    for path in builds:
        deltaglider("rm", f"{target}{path.name}")
    collected = deltaglider("gc", target, "--grace", "0")
    # Not allowed to list incomplete uploads: said, and the rest of gc done all the same.
    assert "warning: incomplete uploads left as they are: Access denied (ListMultipartUploads" in (
        collected.stderr
    )

    keys = [o["Key"] for o in admin.list_objects_v2(Bucket=backend.bucket).get("Contents", [])]  # type: ignore[attr-defined]
    assert keys == []  # everything went, and nothing was ever written elsewhere
