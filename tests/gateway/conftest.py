"""Gateways for the tests: `deltaglider serve` over a directory (one per module), and
over an upstream S3 (moto, and Ceph RGW when `make test` runs it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _ceph_env, _s3_env
from tests.gateway.server import Gateway, running


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without AWS or DG settings (the tests' own aside)."""
    keep = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("AWS_", "DG_")) or k.startswith("DG_TEST_")
    }  # fmt: skip
    return keep | (extra or {})


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway over a fresh directory, for the whole module."""
    work = tmp_path_factory.mktemp("gateway")
    with running(work, ["--data", str(work / "store")], env=clean_env()) as served:
        yield served


@pytest.fixture
def bucket(gateway: Gateway) -> str:
    name = f"gw-{uuid.uuid4().hex[:12]}"
    gateway.client().create_bucket(Bucket=name)
    return name


def backend_args(
    request: pytest.FixtureRequest, name: str, tmp_path: Path
) -> tuple[list[str], dict[str, str]]:
    """`serve`'s backend arguments and environment for a backend by name (skipped when
    Ceph RGW is not running)."""
    if name == "file":
        return ["--data", str(tmp_path / "store")], clean_env()
    upstream = (
        _s3_env(request.getfixturevalue("moto_endpoint"), "testing", "testing")
        if name == "moto"
        else _ceph_env()
    )
    if upstream is None:
        pytest.skip("Ceph RGW not running (make test starts it: DG_TEST_CEPH_ENDPOINT)")
    endpoint = upstream.pop("AWS_ENDPOINT_URL")
    return ["--upstream", endpoint], clean_env(upstream)


@pytest.fixture(params=("file", "moto", "ceph"))
def any_gateway(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, Gateway, Any]]:
    """A gateway over each backend in turn: (backend name, gateway, a bucket on it)."""
    backend, env = backend_args(request, request.param, tmp_path)
    with running(tmp_path / "gw", backend, env=env) as served:
        name = f"gw-{uuid.uuid4().hex[:12]}"
        served.client().create_bucket(Bucket=name)
        yield request.param, served, name
