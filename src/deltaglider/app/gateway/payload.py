"""Request bodies: read as a stream, bounded by what the request declared, decoded when
they come aws-chunked (chunked.py), and checked: the SHA256 the client signed
(x-amz-content-sha256) once they have been read, chunk signatures as they arrive, an
additional checksum (checksums.py) from a header or a trailer.

A client that goes away mid-body leaves a short body: IncompleteBody, and the handler
stores nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

from deltaglider.app.gateway import chunked
from deltaglider.app.gateway.auth import UNSIGNED_PAYLOAD, Signed
from deltaglider.app.gateway.checksums import Checksum, checked, declared
from deltaglider.app.gateway.errors import S3Error, invalid_request, not_implemented
from deltaglider.app.gateway.http import CHUNK, Request
from deltaglider.core.errors import IncompleteBody

SIGNED_CHUNKS = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
UNSIGNED_CHUNKS = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


class Payload:
    """The body of one request."""

    def __init__(self, request: Request, signed: Signed | None) -> None:
        self.request = request
        self.signed = signed
        self.declared = (
            signed.payload
            if signed
            else request.headers.get("x-amz-content-sha256", UNSIGNED_PAYLOAD)
        )
        self.streaming = self.declared.startswith("STREAMING-")
        if self.streaming and self.declared not in (*SIGNED_CHUNKS, UNSIGNED_CHUNKS):
            raise not_implemented(f"x-amz-content-sha256: {self.declared}")
        if self.declared in SIGNED_CHUNKS and signed is None:
            raise invalid_request("signed chunks come with a signed request")
        if (
            not self.streaming
            and self.declared != UNSIGNED_PAYLOAD
            and not _is_sha256(self.declared)
        ):
            raise S3Error("InvalidArgument", 400, "x-amz-content-sha256 must be "
                          "UNSIGNED-PAYLOAD, STREAMING-... or a hex SHA256")  # fmt: skip
        self.length = request.content_length
        self.chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
        self.checksum: Checksum | None = declared(request.headers)

    @property
    def size(self) -> int | None:
        """The body's decoded size as declared; None when it comes with no length."""
        if self.streaming:
            decoded = self.request.headers.get("x-amz-decoded-content-length")
            if decoded is None:
                return None
            if not decoded.strip().isdigit():
                raise invalid_request("x-amz-decoded-content-length must be a number")
            return int(decoded)
        if self.length is None and not self.chunked:
            return 0
        return self.length

    def chunks(self) -> Iterator[bytes]:
        """The body's bytes, decoded and checked as they arrive."""
        encoded_length = self.length if self.length is not None or self.chunked else 0
        raw = _read(self.request.body, encoded_length)
        if not self.streaming:
            return checked(raw, self.checksum)
        return checked(self._decoded(raw), self.checksum)

    def _decoded(self, raw: Iterator[bytes]) -> Iterator[bytes]:
        signing = None
        if self.declared in SIGNED_CHUNKS:
            assert self.signed is not None  # refused unsigned in __init__
            signing = chunked.ChunkSigning(
                self.signed.signing_key, self.signed.amz_date, self.signed.scope,
                self.signed.signature,
            )  # fmt: skip
        trailers: dict[str, str] = {}
        yield from chunked.decode(raw, signing, trailers)
        if self.checksum is not None and self.checksum.expected is None:
            self.checksum.expected = trailers.get(self.checksum.header)

    def check(self, sha256: str) -> None:
        """After the body was read: its SHA256 must be the one signed for it."""
        if self.streaming or self.declared == UNSIGNED_PAYLOAD:
            return
        if sha256 != self.declared.lower():
            raise S3Error(
                "XAmzContentSHA256Mismatch", 400,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                extra={"ClientComputedContentSHA256": self.declared,
                       "S3ComputedContentSHA256": sha256},
            )  # fmt: skip

    def read_all(self, limit: int) -> bytes:
        """A small body (an XML document) whole, checked; over `limit` bytes refused."""
        if self.size is not None and self.size > limit:
            raise S3Error("MaxMessageLengthExceeded", 400, "Your request was too big.")
        data = bytearray()
        for chunk in self.chunks():
            data += chunk
            if len(data) > limit:
                raise S3Error("MaxMessageLengthExceeded", 400, "Your request was too big.")
        self.check(hashlib.sha256(data).hexdigest())
        return bytes(data)


def _read(stream: BinaryIO, size: int | None) -> Iterator[bytes]:
    """`size` bytes of `stream` (to its end when None); a short body raises
    IncompleteBody, whether the stream ends early or the connection fails."""
    left = size
    received = 0
    while left is None or left > 0:
        try:
            chunk = stream.read(CHUNK if left is None else min(CHUNK, left))
        except Exception:  # the server's own error for a connection that broke
            raise IncompleteBody(size if size is not None else received + 1, received) from None
        if not chunk:
            break
        received += len(chunk)
        if left is not None:
            left -= len(chunk)
        yield chunk
    if left:
        raise IncompleteBody(size or 0, received)


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)
