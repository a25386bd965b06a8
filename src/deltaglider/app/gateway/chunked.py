"""aws-chunked bodies (`Content-Encoding: aws-chunked`), decoded as they arrive:

    STREAMING-AWS4-HMAC-SHA256-PAYLOAD           chunks signed, each chaining the last
    STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER   the same, then signed trailers
    STREAMING-UNSIGNED-PAYLOAD-TRAILER           plain chunks, then trailers (a checksum)

Each chunk is `HEX-SIZE[;chunk-signature=SIG]\\r\\nDATA\\r\\n`, the last one of size 0;
trailers follow as `name:value\\r\\n` lines and an empty line. A chunk's signature is
checked when its data has been read, so bytes may reach the spool before their chunk is
verified: an upload is stored only after the whole body (every signature, the trailer
and its checksum) has been, so a bad chunk means nothing stored.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

from deltaglider.app.gateway.errors import S3Error, invalid_request
from deltaglider.core.errors import IncompleteBody

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
LINE_LIMIT = 4096  # bytes of one chunk header or trailer line
PIECE = 1024 * 1024


@dataclass(frozen=True)
class ChunkSigning:
    """What chunk signatures are checked against (None of it for unsigned bodies)."""

    key: bytes | None  # None: signatures not checked (no users configured)
    amz_date: str
    scope: str
    seed: str  # the request's own signature

    def sign(self, kind: str, previous: str, digest: str) -> str:
        assert self.key is not None
        parts = [f"AWS4-HMAC-SHA256-{kind}", self.amz_date, self.scope, previous]
        if kind == "PAYLOAD":
            parts.append(EMPTY_SHA256)
        parts.append(digest)
        return hmac.new(self.key, "\n".join(parts).encode(), hashlib.sha256).hexdigest()


class _Reader:
    """Bytes of the raw body, pulled from an iterator of chunks of any size."""

    def __init__(self, raw: Iterator[bytes]) -> None:
        self.raw = raw
        self.buffer = bytearray()

    def _fill(self) -> bool:
        chunk = next(self.raw, b"")
        self.buffer += chunk
        return bool(chunk)

    def line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            if len(self.buffer) > LINE_LIMIT:
                raise invalid_request("an aws-chunked line is too long")
            if not self._fill():
                raise _cut()
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    def take(self, size: int) -> Iterator[bytes]:
        left = size
        while left:
            if not self.buffer and not self._fill():
                raise _cut()
            piece = bytes(self.buffer[: min(left, PIECE)])
            del self.buffer[: len(piece)]
            left -= len(piece)
            yield piece


def decode(
    raw: Iterator[bytes], signing: ChunkSigning | None, trailers: dict[str, str]
) -> Iterator[bytes]:
    """The decoded bytes of an aws-chunked body; `trailers` is filled at its end.
    `signing` None: an unsigned body (no chunk signatures)."""
    reader = _Reader(raw)
    previous = signing.seed if signing else ""
    while True:
        size, signature = _chunk_header(reader.line(), signed=signing is not None)
        digest = hashlib.sha256()
        for piece in reader.take(size):
            digest.update(piece)
            yield piece
        if signing is not None:
            previous = _check(signing, "PAYLOAD", previous, digest.hexdigest(), signature)
        if size == 0:
            break
        if reader.line() != b"":
            raise invalid_request("an aws-chunked chunk is longer than its size")
    _trailers(reader, signing, previous, trailers)


def _chunk_header(line: bytes, *, signed: bool) -> tuple[int, str]:
    size_text, _, extension = line.decode("latin-1").partition(";")
    try:
        size = int(size_text.strip(), 16)
    except ValueError:
        raise invalid_request(f"an invalid aws-chunked chunk size: {size_text[:20]!r}") from None
    name, _, signature = extension.partition("=")
    if signed and name.strip() != "chunk-signature":
        raise invalid_request("an aws-chunked chunk without its chunk-signature")
    return size, signature.strip()


def _trailers(
    reader: _Reader, signing: ChunkSigning | None, previous: str, trailers: dict[str, str]
) -> None:
    signature = None
    canonical = []
    while line := reader.line().decode("latin-1"):
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "x-amz-trailer-signature":
            signature = value
        else:
            trailers[name] = value
            canonical.append(f"{name}:{value}\n")
    if signing is not None and (canonical or signature is not None):
        digest = hashlib.sha256("".join(canonical).encode()).hexdigest()
        _check(signing, "TRAILER", previous, digest, signature or "")


def _check(signing: ChunkSigning, kind: str, previous: str, digest: str, given: str) -> str:
    """The expected signature, once it matched the one given."""
    if signing.key is None:
        return given
    expected = signing.sign(kind, previous, digest)
    if not hmac.compare_digest(expected, given.lower()):
        raise S3Error("SignatureDoesNotMatch", 403,
                      "The request signature we calculated does not match the signature "
                      "you provided. Check your key and signing method.")  # fmt: skip
    return expected


def _cut() -> S3Error:
    return S3Error("IncompleteBody", 400, IncompleteBody.message or "")
