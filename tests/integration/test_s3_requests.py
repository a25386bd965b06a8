"""What a command asks of every request (`--request-payer`, `--page-size`) reaches every
request the S3 store sends, as the server receives it (moto and Ceph RGW)."""

from __future__ import annotations

import io
from typing import Any

from deltaglider.adapters.s3 import S3Storage
from deltaglider.adapters.s3_requests import RequestOptions
from deltaglider.app.wiring import build_service, build_storage
from deltaglider.core.models import ObjectKey
from deltaglider.ports import ObjectInfo
from tests.conftest import Backend


def test_request_payer_and_page_size_go_with_every_request(s3_backend: Backend) -> None:
    settings = s3_backend.settings(requests=RequestOptions(request_payer="requester", page_size=2))
    storage = build_storage(settings)
    assert isinstance(storage, S3Storage)
    sent: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        sent.append((model.name, params))  # the request as serialised, headers and query

    storage.client.meta.events.register("before-call.s3", record)
    service = build_service(settings, storage, storage)
    names = [f"notes-{number}.txt" for number in range(5)]
    for name in names:
        body = f"{name}\n".encode() * 100
        service.put(ObjectKey(s3_backend.bucket, f"docs/{name}"), io.BytesIO(body))

    listed = [
        entry.key.rsplit("/", 1)[-1]
        for entry in storage.list(s3_backend.bucket, "docs/")
        if isinstance(entry, ObjectInfo)
    ]

    assert listed == names  # every page read
    assert {params["headers"].get("x-amz-request-payer") for _, params in sent} == {"requester"}
    pages = [params["query_string"] for name, params in sent if name == "ListObjectsV2"]
    assert len(pages) >= 3
    assert {page.get("max-keys") for page in pages} == {2}
