"""The delta policy: which files are worth storing as deltas, and which deltas to keep."""

from __future__ import annotations

from dataclasses import dataclass

from deltaglider.core.errors import ConfigError
from deltaglider.core.models import DELTA_SUFFIX, is_internal_name

# Archives and binaries: versions of these differ little, and compress poorly otherwise.
DELTA_EXTENSIONS: tuple[str, ...] = (
    ".zip", ".jar", ".war", ".ear", ".whl", ".egg", ".nupkg",
    ".tar", ".tgz", ".tar.gz", ".gz", ".bz2", ".xz", ".zst", ".7z", ".rar",
    ".deb", ".rpm", ".apk", ".aab", ".ipa", ".dmg", ".iso", ".img", ".bin",
    ".exe", ".dll", ".so", ".msi", ".pkg", ".appimage", ".vsix", ".crx", ".gem",
)  # fmt: skip

DEFAULT_MAX_RATIO = 0.5
DEFAULT_MIN_SIZE = 1024  # below this a delta's own overhead outweighs any saving


def is_reserved_name(name: str) -> bool:
    """Names a direct object must not take, as they would read as internal objects.

    Such files are always stored as deltas (`reference.bin` becomes
    `reference.bin.delta`), so the logical view stays unambiguous.
    """
    return is_internal_name(name) or name.endswith(DELTA_SUFFIX)


@dataclass(frozen=True)
class DeltaPolicy:
    """When to delta: by file type and size up front, by delta size afterwards."""

    max_ratio: float = DEFAULT_MAX_RATIO
    min_size: int = DEFAULT_MIN_SIZE

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_ratio <= 1.0:
            raise ConfigError(f"max ratio must be between 0 and 1, got {self.max_ratio}")

    def should_use_delta(self, name: str, size: int) -> bool:
        """Whether a file is a delta candidate: an archive or binary, not tiny."""
        if is_reserved_name(name):
            return True
        lowered = name.lower()
        return size >= self.min_size and lowered.endswith(DELTA_EXTENSIONS)

    def keeps_delta(self, name: str, delta_size: int, file_size: int) -> bool:
        """Whether a computed delta is small enough to store instead of the file."""
        if is_reserved_name(name):
            return True
        return file_size > 0 and delta_size / file_size <= self.max_ratio
