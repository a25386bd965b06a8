"""What a command asks of every S3 request it makes, as `aws s3`'s flags ask it:
`--acl`, `--sse`, `--sse-kms-key-id`, `--storage-class` on the objects it writes,
`--request-payer` on every request, `--page-size` on its listings.

A logical object is stored as several S3 objects (its delta, a reference, the listing
index), so these go to every object the command writes, not to one call: a reference
holds the file's bytes as much as the delta does, and must be encrypted, owned and
billed alike. Only the storage class skips DeltaGlider's small bookkeeping objects
(`.dg-*`: the listing index, locks), rewritten often, which an infrequent-access class
would bill at its minimum size and duration each time. They are added to the boto3
client's requests (botocore's before-parameter-build event) where the request does not
set them already.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from deltaglider.core.models import INTERNAL_PREFIX

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.model import OperationModel

# The requests that create an object (a multipart upload's parts inherit from its start).
_WRITES = frozenset({"PutObject", "CreateMultipartUpload", "CopyObject"})
_LISTINGS = frozenset({"ListObjectsV2", "ListObjects"})


@dataclass(frozen=True)
class RequestOptions:
    """The flags' values; None for a flag not given."""

    acl: str | None = None
    sse: str | None = None
    sse_kms_key_id: str | None = None
    storage_class: str | None = None
    request_payer: str | None = None
    page_size: int | None = None

    @property
    def given(self) -> bool:
        return any(getattr(self, field.name) is not None for field in fields(self))

    def write_flags(self) -> list[str]:
        """The flags given that set how objects are written, as the user typed them."""
        flags = {
            "--acl": self.acl,
            "--sse": self.sse,
            "--sse-kms-key-id": self.sse_kms_key_id,
            "--storage-class": self.storage_class,
        }
        return [flag for flag, value in flags.items() if value is not None]

    def for_writes(self) -> dict[str, str]:
        """The parameters of a request that creates an object."""
        wanted = {
            "ACL": self.acl,
            "ServerSideEncryption": self.sse,
            "SSEKMSKeyId": self.sse_kms_key_id,
            "StorageClass": self.storage_class,
        }
        return {name: value for name, value in wanted.items() if value is not None}


PLAIN = RequestOptions()  # no flag given


def ask_of_every_request(client: BaseClient, options: RequestOptions) -> None:
    """Make `client`'s requests carry what `options` ask for."""
    if not options.given:
        return
    writes = options.for_writes()

    def add(params: dict[str, Any], model: OperationModel, **_: Any) -> None:
        members = model.input_shape.members if model.input_shape is not None else {}
        wanted: dict[str, Any] = {}
        if model.name in _WRITES:
            wanted.update(writes)
            if str(params.get("Key", "")).rsplit("/", 1)[-1].startswith(INTERNAL_PREFIX):
                wanted.pop("StorageClass", None)
        if options.request_payer is not None and "RequestPayer" in members:
            wanted["RequestPayer"] = options.request_payer
        if options.page_size is not None and model.name in _LISTINGS:
            wanted["MaxKeys"] = options.page_size
        for name, value in wanted.items():
            params.setdefault(name, value)

    client.meta.events.register("before-parameter-build.s3", add)
