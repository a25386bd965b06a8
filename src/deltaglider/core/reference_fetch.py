"""Fetching a reference: through the local cache, each reference once per process,
SHA256-checked; from a store on local disk, a hard link to it instead (no copy, nothing
cached). A large reference is copied into the cache on its second use in the process,
not its first: the copy (encrypted, written twice) costs about what fetching it again
does, and a command on one large object never reads it again. A reference stored
compressed (`dg-encoding`) is decoded in place. A caller may use the ranges of a
download as they land (a decode following it), never trusting them before the fetch
has returned; or, for a large reference on first use, read only the ranges it needs
where the reference is stored (`ranges`), trusting nothing it makes of them before
their product's own SHA256 matched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from deltaglider.core.bounded import KeyedLocks, RecentMap
from deltaglider.core.errors import (
    DiffError,
    FormatError,
    IntegrityError,
    ObjectNotFound,
    ReferenceChanged,
    ReferenceMissing,
)
from deltaglider.core.metadata import read_reference
from deltaglider.ports import (
    ByteRanges,
    CachePort,
    DiffPort,
    HashingStorage,
    HashPort,
    LinkingStorage,
    LoggerPort,
    MetricsPort,
    RangeReadingStorage,
    StoragePort,
)

CACHED_AT_ONCE_UP_TO = 64 * 1024 * 1024  # larger references are cached on second use
USES_REMEMBERED = 256  # large references whose first use is remembered


class ReferenceFetcher:
    """Writes references to local files, from the cache or the store."""

    def __init__(
        self,
        *,
        storage: StoragePort,
        cache: CachePort,
        hasher: HashPort,
        logger: LoggerPort,
        metrics: MetricsPort,
        codecs: Mapping[str, DiffPort],
    ) -> None:
        """`codecs` (by name) decode references stored compressed (`dg-encoding`)."""
        self.storage = storage
        self.cache = cache
        self.hasher = hasher
        self.logger = logger
        self.metrics = metrics
        self.codecs = dict(codecs)
        self._fetches = KeyedLocks[str]()  # one download per reference at a time
        # A store on local disk is its own cache: references are linked from it, not
        # copied (twice, with the cache) for every use.
        self._local = isinstance(storage, LinkingStorage)
        self._used_once = RecentMap[str, bool](USES_REMEMBERED)  # large ones, by SHA256

    def fetch(
        self,
        bucket: str,
        key: str,
        sha256: str,
        local: Path,
        *,
        only_read: bool = True,
        written: Callable[[int, int], None] | None = None,
    ) -> Path:
        """Write the reference with this SHA256 to `local`: from the cache if it holds a
        verified copy, else from storage (once per process: other threads wait), then
        into the cache (a large one from its second use on). A local store may hand
        out a hard link to its data file, but only to a caller that `only_read`s it: a
        file given to a user is a copy, or writing to it in place would change the
        stored reference and every delta made against it.

        `written` hears of each range of `local` as it lands (a reader may use them
        before the SHA256 is checked, never trust them before this returns); of the
        whole file at the end when it did not come from a download of its own bytes."""
        with self._fetches.held(sha256):
            if self.cache.fetch(sha256, local):
                if self.hasher.file_sha256(local) == sha256:
                    _tell_whole(written, local)
                    return local
                self.logger.warning(
                    "cached reference %s failed verification: fetching it again", sha256
                )
                self.cache.discard(sha256)
                local.unlink(missing_ok=True)
            storage = self.storage
            linked = (
                only_read
                and isinstance(storage, LinkingStorage)
                and storage.link(bucket, key, local)
            )
            try:
                hashed = None if linked else self._download(bucket, key, local, written)
            except ObjectNotFound:
                raise ReferenceMissing(bucket, key) from None
            actual = hashed or self.hasher.file_sha256(local)
            if actual != sha256:
                actual = self._unpacked(bucket, key, local) or actual
            if actual != sha256:
                raise ReferenceChanged(
                    f"reference s3://{bucket}/{key} has SHA256 {actual}, expected {sha256}"
                )
            self.metrics.increment("reference.fetch")
            _tell_whole(written, local)
            if self.worth_caching(sha256, local.stat().st_size):
                self.cache.store(sha256, local)
            return local

    def ranges(self, bucket: str, key: str, sha256: str) -> ByteRanges | None:
        """The reference read by ranges where it is stored, for a decode that reads only
        the stretches it needs, when fetching it whole would be wasted: a large
        reference on its first use in this process, not in the cache, stored as itself
        (not compressed), on a store that serves ranges cheaply. Its metadata must
        record this SHA256; its bytes are not hashed (nothing reads them all), so what
        is decoded from them is trusted only once its own SHA256 matched. None: fetch
        it whole."""
        storage = self.storage
        if self._local or not isinstance(storage, RangeReadingStorage) or self.cache.holds(sha256):
            return None
        info = storage.head(bucket, key)
        if info is None or info.size <= CACHED_AT_ONCE_UP_TO or self._used_once.get(sha256):
            return None
        try:
            recorded = read_reference(info.metadata)
        except FormatError:
            return None
        if recorded.sha256 != sha256 or recorded.encoding is not None or not info.etag:
            return None
        ranges = storage.byte_ranges(bucket, key, info.size, info.etag)
        if ranges is not None:
            self._used_once.put(sha256, True)  # its next use fetches it whole, and caches it
        return ranges

    def _download(
        self, bucket: str, key: str, local: Path, written: Callable[[int, int], None] | None
    ) -> str | None:
        """Download a reference; its SHA256 when the store hashed it on the way.
        `written` hears of the ranges landing only when they are the reference's own
        bytes, not a compressed frame of them (asked of its metadata first)."""
        if isinstance(self.storage, HashingStorage):
            if written is not None and self._packed(bucket, key):
                written = None
            return self.storage.download_hashed(bucket, key, local, written=written)
        self.storage.download(bucket, key, local)
        return None

    def _packed(self, bucket: str, key: str) -> bool:
        """Whether the reference is stored compressed (`dg-encoding`); unknown: True."""
        info = self.storage.head(bucket, key)
        if info is None:
            raise ObjectNotFound(bucket, key)
        try:
            return read_reference(info.metadata).encoding is not None
        except FormatError:
            return True

    def worth_caching(self, sha256: str, size: int) -> bool:
        """Whether to copy a reference into the cache now: never from a store on local
        disk (its own cache), a small one at once, a large one when this process has
        used it before."""
        if self._local:
            return False
        if size <= CACHED_AT_ONCE_UP_TO or self._used_once.get(sha256):
            return True
        self._used_once.put(sha256, True)
        return False

    def _unpacked(self, bucket: str, key: str, local: Path) -> str | None:
        """When the reference is stored compressed (its metadata's `dg-encoding` names
        the codec of its frame), decode it in place and return its SHA256."""
        info = self.storage.head(bucket, key)
        try:
            encoding = read_reference(info.metadata).encoding if info else None
        except FormatError:
            return None
        codec = self.codecs.get(encoding) if encoding else None
        if codec is None:
            if encoding:
                raise FormatError(f"reference s3://{bucket}/{key} is stored in {encoding!r}")
            return None
        packed, empty = local.with_name(local.name + ".packed"), local.with_name(local.name + ".0")
        local.rename(packed)
        empty.write_bytes(b"")
        try:
            codec.decode(empty, packed, local)
        except DiffError as exc:
            raise IntegrityError(f"reference s3://{bucket}/{key} is damaged ({exc})") from None
        finally:
            packed.unlink(missing_ok=True)
            empty.unlink(missing_ok=True)
        return self.hasher.file_sha256(local)

    @property
    def in_progress(self) -> int:
        return len(self._fetches)


def _tell_whole(written: Callable[[int, int], None] | None, local: Path) -> None:
    if written is not None:
        written(0, local.stat().st_size)
