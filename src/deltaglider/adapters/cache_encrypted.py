"""CachePort wrapper that keeps every entry encrypted (Fernet: AES-128-CBC + HMAC-SHA256)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from deltaglider.ports import CachePort, LoggerPort


class EncryptedCache:
    """Encrypts on `store` and decrypts on `fetch`, around any other cache.

    The key is ephemeral (made per process) unless one is given (DG_CACHE_ENCRYPTION_KEY),
    so by default nothing cached can be read once the process is gone. Plaintext is never
    handed to the inner cache; an entry that fails to decrypt is discarded.
    """

    def __init__(self, inner: CachePort, logger: LoggerPort, key: bytes | None = None) -> None:
        self._inner = inner
        self._logger = logger
        self._fernet = Fernet(key or Fernet.generate_key())

    def fetch(self, sha256: str, destination: Path) -> bool:
        with tempfile.TemporaryDirectory(prefix="deltaglider-seal-") as scratch:
            sealed = Path(scratch, "sealed")
            if not self._inner.fetch(sha256, sealed):
                return False
            try:
                plain = self._fernet.decrypt(sealed.read_bytes())
            except InvalidToken:
                self._logger.warning("cached reference %s cannot be decrypted: discarded", sha256)
                self._inner.discard(sha256)
                return False
        destination.write_bytes(plain)
        return True

    def store(self, sha256: str, source: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="deltaglider-seal-") as scratch:
            sealed = Path(scratch, "sealed")  # ciphertext in transit, never plaintext
            sealed.write_bytes(self._fernet.encrypt(source.read_bytes()))
            self._inner.store(sha256, sealed)

    def discard(self, sha256: str) -> None:
        self._inner.discard(sha256)
