"""/health, /ready and /metrics of a running gateway (two worker processes), and the
access log line per request."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.artifacts import release_zip
from tests.gateway.server import Gateway
from tests.gateway.test_auth import raw


def scrape(gateway: Gateway) -> dict[str, float]:
    status, body, headers = raw(f"{gateway.endpoint}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            values[series] = float(value)
    return values


def test_health_ready_and_metrics(gateway: Gateway, bucket: str, tmp_path: Path) -> None:
    assert raw(f"{gateway.endpoint}/health")[:2] == (200, b"ok\n")
    assert raw(f"{gateway.endpoint}/ready")[:2] == (200, b"ready\n")
    client = gateway.client()
    files = [release_zip(tmp_path / f"app-4.{v}.zip", v, files=40) for v in range(3)]
    for path in files:
        client.upload_file(str(path), bucket, f"m/{path.name}")
    client.head_object(Bucket=bucket, Key=f"m/{files[0].name}")
    time.sleep(1.5)  # each worker writes its counts once a second
    metrics = scrape(gateway)
    put = 'deltaglider_gateway_requests_total{operation="PutObject",status="200"}'
    assert metrics[put] >= 3
    head = 'deltaglider_gateway_requests_total{operation="HeadObject",status="200"}'
    assert metrics[head] >= 1
    logical = metrics["deltaglider_gateway_logical_bytes_total"]
    stored = metrics["deltaglider_gateway_stored_bytes_total"]
    assert logical >= sum(p.stat().st_size for p in files)
    assert stored < logical
    seconds = "deltaglider_gateway_request_seconds"
    count = metrics[f'{seconds}_count{{operation="PutObject"}}']
    assert metrics[f'{seconds}_bucket{{operation="PutObject",le="+Inf"}}'] == count


def test_each_request_has_one_access_line(gateway: Gateway, bucket: str) -> None:
    client = gateway.client()
    answer = client.put_object(Bucket=bucket, Key="logged.txt", Body=b"x")
    request_id = answer["ResponseMetadata"]["RequestId"]
    time.sleep(0.2)
    lines = [line for line in gateway.access_lines() if request_id in line]
    assert len(lines) == 1
    assert re.search(rf'GWTESTKEY1 "PUT /{bucket}/logged.txt" 200 0 [\d.]+ms PutObject', lines[0])
