"""S3's errors as the gateway answers them: a code, an HTTP status, a message, and the
XML body S3 sends with them (with the request id, so a client's log and ours meet).

The core's errors already carry S3's code, status and message (core/errors.py); the
gateway adds those that only an HTTP front end meets: signatures, malformed requests,
operations it does not implement.
"""

from __future__ import annotations

from deltaglider.app.gateway.xml import Node, render
from deltaglider.core.errors import DeltaGliderError


class S3Error(Exception):
    """An error answered as S3 answers it."""

    def __init__(
        self,
        code: str,
        status: int,
        message: str,
        *,
        bucket: str | None = None,
        key: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.bucket = bucket
        self.key = key
        self.extra = extra or {}

    @classmethod
    def from_core(cls, error: DeltaGliderError) -> S3Error:
        return cls(error.code, error.status, error.explanation, bucket=error.bucket,
                   key=error.key)  # fmt: skip

    def to_xml(self, request_id: str, resource: str) -> bytes:
        fields: list[Node] = [("Code", self.code), ("Message", self.message)]
        if self.bucket is not None:
            fields.append(("BucketName", self.bucket))
        if self.key is not None:
            fields.append(("Key", self.key))
        fields += list(self.extra.items())
        fields += [("Resource", resource), ("RequestId", request_id), ("HostId", request_id)]
        return render("Error", fields, namespace=False)


def access_denied() -> S3Error:
    return S3Error("AccessDenied", 403, "Access Denied")


def not_implemented(what: str) -> S3Error:
    return S3Error(
        "NotImplemented", 501, f"A header or query you provided implies functionality "
        f"that is not implemented: {what}",
    )  # fmt: skip


def invalid_argument(message: str, name: str, value: str) -> S3Error:
    return S3Error(
        "InvalidArgument", 400, message, extra={"ArgumentName": name, "ArgumentValue": value}
    )


def invalid_request(message: str) -> S3Error:
    return S3Error("InvalidRequest", 400, message)


def malformed_xml() -> S3Error:
    return S3Error(
        "MalformedXML", 400, "The XML you provided was not well-formed or did not validate "
        "against our published schema.",
    )  # fmt: skip


def precondition_failed(condition: str) -> S3Error:
    return S3Error(
        "PreconditionFailed", 412,
        "At least one of the pre-conditions you specified did not hold",
        extra={"Condition": condition},
    )  # fmt: skip


def no_such_key(bucket: str, key: str) -> S3Error:
    return S3Error("NoSuchKey", 404, "The specified key does not exist.", bucket=bucket, key=key)


def no_such_bucket(bucket: str) -> S3Error:
    return S3Error("NoSuchBucket", 404, "The specified bucket does not exist", bucket=bucket)
