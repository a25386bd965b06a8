"""The additional checksums S3 takes with a body (x-amz-checksum-ALGORITHM, in a header or
an aws-chunked trailer): computed while the body is read, compared once it has all
arrived, before anything is stored. CRC64NVME is not supported: a request asking for it
is NotImplemented, never stored unchecked.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterator, Mapping
from typing import Protocol

import crc32c

from deltaglider.app.gateway.errors import S3Error, invalid_request, not_implemented

HEADER_PREFIX = "x-amz-checksum-"
ALGORITHMS = ("crc32", "crc32c", "sha1", "sha256")


class _Running(Protocol):
    def update(self, data: bytes) -> None: ...
    def digest(self) -> bytes: ...


class _Crc:
    def __init__(self, castagnoli: bool) -> None:
        self.castagnoli = castagnoli
        self.value = 0

    def update(self, data: bytes) -> None:
        if self.castagnoli:
            self.value = crc32c.crc32c(data, self.value)
        else:
            self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


def running(algorithm: str) -> _Running:
    if algorithm in ("crc32", "crc32c"):
        return _Crc(algorithm == "crc32c")
    return hashlib.new(algorithm)


class Checksum:
    """One algorithm's checksum of a body, and the value the client sent for it (from a
    header now, or from a trailer when the body has been read)."""

    def __init__(self, algorithm: str, expected: str | None) -> None:
        self.algorithm = algorithm
        self.expected = expected
        self._running = running(algorithm)

    @property
    def header(self) -> str:
        return HEADER_PREFIX + self.algorithm

    def update(self, data: bytes) -> None:
        self._running.update(data)

    def value(self) -> str:
        return base64.b64encode(self._running.digest()).decode()

    def check(self) -> None:
        if self.expected is None:
            raise invalid_request(f"the trailer {self.header} did not arrive")
        if self.expected.strip() != self.value():
            name = self.algorithm.upper()
            message = f"The {name} you specified did not match the calculated checksum."
            raise S3Error("BadDigest", 400, message)


def declared(headers: Mapping[str, str]) -> Checksum | None:
    """The checksum a request declares: a header with its value, or a trailer to come
    (x-amz-trailer); None when it declares none."""
    trailer = headers.get("x-amz-trailer", "").strip().lower()
    names = [n for n in headers if n.startswith(HEADER_PREFIX) and n != "x-amz-checksum-type"]
    if trailer:
        names.append(trailer)
    if not names:
        return None
    if len(set(names)) > 1:
        raise invalid_request("Expecting a single x-amz-checksum- header")
    name = names[0]
    if not name.startswith(HEADER_PREFIX):
        raise not_implemented(f"x-amz-trailer: {name}")
    algorithm = name[len(HEADER_PREFIX) :]
    if algorithm not in ALGORITHMS:
        raise not_implemented(f"{name}")
    return Checksum(algorithm, None if trailer else headers[name])


def checked(chunks: Iterator[bytes], checksum: Checksum | None) -> Iterator[bytes]:
    """The chunks, fed to the checksum; checked after the last (a header's value).
    A trailer's value is set by the decoder before the chunks end."""
    if checksum is None:
        yield from chunks
        return
    for chunk in chunks:
        checksum.update(chunk)
        yield chunk
    checksum.check()
