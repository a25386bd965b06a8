"""CachePort wrapper that keeps every entry encrypted (AES-256-GCM, in 1 MiB chunks)."""

from __future__ import annotations

import base64
import os
import struct
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from deltaglider.core.scratch import scratch_dir
from deltaglider.ports import CachePort, LoggerPort

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"DGC1"
CHUNK = 1024 * 1024
_LENGTH = struct.Struct(">I")


class EncryptedCache:
    """Encrypts on `store` and decrypts on `fetch`, around any other cache.

    Entries are sealed chunk by chunk, so memory stays at one chunk whatever the size of
    a reference (a whole-file cipher needs several copies of it). Each chunk's nonce is
    the entry's random 8-byte id and the chunk number; its associated data binds it to
    the entry's SHA256 and marks the last chunk, so chunks cannot be swapped, reordered,
    or cut off unnoticed. The key is ephemeral (made per process) unless one is given
    (DG_CACHE_ENCRYPTION_KEY: 32 bytes in urlsafe base64), so by default nothing cached
    can be read once the process is gone. Plaintext is never handed to the inner cache;
    an entry that fails to decrypt is discarded.
    """

    def __init__(self, inner: CachePort, logger: LoggerPort, key: bytes | None = None) -> None:
        self._inner = inner
        self._logger = logger
        self._secret = base64.urlsafe_b64decode(key) if key else os.urandom(32)  # AES-256

    @cached_property
    def _aead(self) -> AESGCM:
        """The cipher, made on first use: a command that caches nothing never loads it."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

        return AESGCM(self._secret)

    def fetch(self, sha256: str, destination: Path) -> bool:
        with scratch_dir() as work:
            sealed = work / "sealed"
            if not self._inner.fetch(sha256, sealed):
                return False
            with sealed.open("rb") as source, destination.open("wb") as out:
                opened = self._open(sha256, source, sealed.stat().st_size, out)
        if not opened:
            destination.unlink(missing_ok=True)
            self._logger.warning("cached reference %s cannot be decrypted: discarded", sha256)
            self._inner.discard(sha256)
        return opened

    def store(self, sha256: str, source: Path) -> None:
        with scratch_dir() as work:
            sealed = work / "sealed"  # ciphertext in transit, never plaintext
            entry_id = os.urandom(8)
            with source.open("rb") as plain, sealed.open("wb") as out:
                out.write(MAGIC + entry_id)
                chunk, number = plain.read(CHUNK), 0
                while True:
                    following = plain.read(CHUNK)
                    nonce = entry_id + struct.pack(">I", number)
                    sealed_chunk = self._aead.encrypt(
                        nonce, chunk, _associated(sha256, last=not following)
                    )
                    out.write(_LENGTH.pack(len(sealed_chunk)) + sealed_chunk)
                    if not following:
                        break
                    chunk, number = following, number + 1
            self._inner.store(sha256, sealed)

    def holds(self, sha256: str) -> bool:
        return self._inner.holds(sha256)

    def discard(self, sha256: str) -> None:
        self._inner.discard(sha256)

    def _open(self, sha256: str, source: BinaryIO, size: int, out: BinaryIO) -> bool:
        """Decrypt chunk by chunk into `out`; False unless every chunk authenticates and
        the last one is marked last."""
        from cryptography.exceptions import InvalidTag  # noqa: PLC0415

        header = source.read(len(MAGIC) + 8)
        if len(header) != len(MAGIC) + 8 or not header.startswith(MAGIC):
            return False
        entry_id, number = header[len(MAGIC) :], 0
        while True:
            length = source.read(_LENGTH.size)
            if len(length) != _LENGTH.size:
                return False  # cut off before a chunk marked last
            sealed_chunk = source.read(_LENGTH.unpack(length)[0])
            last = source.tell() == size
            nonce = entry_id + struct.pack(">I", number)
            try:
                out.write(self._aead.decrypt(nonce, sealed_chunk, _associated(sha256, last)))
            except InvalidTag:
                return False
            if last:
                return True
            number += 1


def _associated(sha256: str, last: bool) -> bytes:
    return sha256.encode() + (b"\x01" if last else b"\x00")
