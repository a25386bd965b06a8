"""Shared fixtures: real S3 servers (moto in-process, Ceph RGW from `make test`), the
local filesystem backend, and services wired over them.

`DG_TEST_CEPH_ENDPOINT` (+ `_ACCESS_KEY`, `_SECRET_KEY`) points the `ceph` backend at the
RADOS Gateway that `make test` starts; without it the Ceph cases are skipped, unless
`DG_TEST_REQUIRE_CEPH=1`, in which case they fail.
"""

from __future__ import annotations

import logging
import os
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from deltaglider.app.settings import Settings
from deltaglider.app.wiring import build_service, build_storage
from deltaglider.core.service import DeltaService
from deltaglider.ports import StoragePort

# A run started in the background (`make test &` from a script) inherits SIGINT
# ignored, and every command it starts would too: the Ctrl-C tests need SIGINT as a
# terminal delivers it. Children get the default once this process does not ignore it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# `make test` hands whole modules to its workers in collection order (pytest-xdist's
# `--dist loadfile --no-loadscope-reorder`). Its own order puts modules with many tests
# first, so the few long ones (races, kills, Ctrl-C) came last and the run ended with one
# worker in them and the other idle for minutes. The longest modules go first here, by
# their durations in `make test` (`--durations`); a new one that takes minutes belongs
# in this list.
LONGEST_FIRST = (
    "e2e/test_cli.py",
    "e2e/test_interrupt_large.py",
    "integration/test_gc_races.py",
    "e2e/test_aws_parity.py",
    "integration/test_corpus.py",
    "integration/test_races.py",
    "gateway/test_clients.py",
    "integration/test_crashes.py",
    "integration/test_client_parity.py",
    "integration/test_archives.py",
    "e2e/test_interrupt.py",
)
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.relative_to(TESTS).as_posix(), len(rank)))


BACKENDS = ("file", "moto", "ceph")


@dataclass
class Backend:
    """One storage backend under test, with a fresh empty bucket."""

    name: str
    endpoint: str
    bucket: str
    env: dict[str, str] = field(default_factory=dict)

    def settings(self, **overrides: object) -> Settings:
        return Settings.load(os.environ, **overrides)  # type: ignore[arg-type]

    def storage(self) -> StoragePort:
        return build_storage(self.settings())

    def service(self) -> DeltaService:
        return build_service(self.settings())

    def subprocess_env(self) -> dict[str, str]:
        """The environment a `deltaglider` subprocess needs to reach this backend."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DG_"))}
        return keep | self.env | {"TZ": "UTC"}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _s3_env(endpoint: str, access_key: str, secret_key: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


def _ceph_env() -> dict[str, str] | None:
    endpoint = os.environ.get("DG_TEST_CEPH_ENDPOINT")
    if not endpoint:
        if os.environ.get("DG_TEST_REQUIRE_CEPH") == "1":
            pytest.fail("DG_TEST_REQUIRE_CEPH=1 but DG_TEST_CEPH_ENDPOINT is not set")
        return None
    return _s3_env(
        endpoint, os.environ["DG_TEST_CEPH_ACCESS_KEY"], os.environ["DG_TEST_CEPH_SECRET_KEY"]
    )


def raw_client(env: dict[str, str]) -> object:
    """A plain boto3 client on a test server, for setting up and inspecting buckets."""
    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def make_backend(
    name: str, tmp_path: Path, moto_endpoint: str | None, monkeypatch: pytest.MonkeyPatch
) -> Backend:
    """A fresh bucket on the named backend; this process's environment points at it."""
    backend = _new_backend(name, tmp_path, moto_endpoint)
    for variable in list(os.environ):
        if variable.startswith(("AWS_", "DG_")) and not variable.startswith("DG_TEST_"):
            monkeypatch.delenv(variable)
    for variable, value in backend.env.items():
        monkeypatch.setenv(variable, value)
    return backend


def _new_backend(name: str, tmp_path: Path, moto_endpoint: str | None) -> Backend:
    bucket = f"dg-test-{uuid.uuid4().hex[:12]}"
    if name == "file":
        root = tmp_path / "store"
        (root / bucket).mkdir(parents=True)
        return Backend(name, root.as_uri(), bucket, {"AWS_ENDPOINT_URL": root.as_uri()})
    if name == "moto":
        assert moto_endpoint is not None
        env = _s3_env(moto_endpoint, "testing", "testing")
    else:
        ceph = _ceph_env()
        if ceph is None:
            pytest.skip("Ceph RGW not running (make test starts it: DG_TEST_CEPH_ENDPOINT)")
        env = ceph
    raw_client(env).create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    return Backend(name, env["AWS_ENDPOINT_URL"], bucket, env)


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Backend:
    """Each backend in turn: the filesystem, moto, and Ceph RGW."""
    moto = request.getfixturevalue("moto_endpoint") if request.param != "file" else None
    return make_backend(request.param, tmp_path, moto, monkeypatch)


@pytest.fixture(params=("moto", "ceph"))
def s3_backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Backend:
    """The S3 servers only: moto and Ceph RGW."""
    moto = request.getfixturevalue("moto_endpoint") if request.param == "moto" else None
    return make_backend(request.param, tmp_path, moto, monkeypatch)


@pytest.fixture
def s3_requests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(operation, key) of every S3 call made by clients built from now on (in-process
    runs of the command line), recorded through botocore's `before-parameter-build` event."""
    calls: list[tuple[str, str]] = []
    create_client = boto3.session.Session.client

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, str(params.get("Key", ""))))

    def recording_client(self: boto3.session.Session, *args: Any, **kwargs: Any) -> Any:
        client = create_client(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build.s3.*", record)
        return client

    monkeypatch.setattr(boto3.session.Session, "client", recording_client)
    return calls
