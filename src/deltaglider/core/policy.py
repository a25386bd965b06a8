"""The delta policy: which files are worth storing as deltas, and which deltas to keep."""

from __future__ import annotations

from dataclasses import dataclass

from deltaglider.core.errors import ConfigError
from deltaglider.core.models import DELTA_SUFFIX, is_internal_name

# Archives and binaries: versions of these differ little, and compress poorly otherwise.
DELTA_EXTENSIONS: tuple[str, ...] = (
    ".zip", ".jar", ".war", ".ear", ".whl", ".egg", ".nupkg", ".xpi", ".aar",
    ".tar", ".tgz", ".tar.gz", ".gz", ".bz2", ".xz", ".zst", ".7z", ".rar",
    ".deb", ".rpm", ".apk", ".aab", ".ipa", ".dmg", ".iso", ".img", ".bin",
    ".exe", ".dll", ".so", ".msi", ".pkg", ".appimage", ".vsix", ".crx", ".gem",
)  # fmt: skip

# Gzip files too large for the archive container (ArchivePort), whose content deltas can
# still see through by streaming (ContainerPort).
CONTAINER_EXTENSIONS: dict[str, str] = {".gz": "gzip", ".tgz": "gzip"}

DEFAULT_MAX_RATIO = 0.5
DEFAULT_MIN_SIZE = 1024  # below this a delta's own overhead outweighs any saving
DEFAULT_SEGMENTED_ABOVE = 256 * 1024 * 1024  # reference + file, bytes

# Reference policies: "adaptive" starts a new reference when a delta is poor; "first"
# keeps the first file of a DeltaSpace as its only reference, as DeltaGlider 6.x did.
REFERENCE_POLICIES = ("adaptive", "first")
# A delta much larger than the DeltaSpace's usual one means the releases drifted away
# from the reference; a new reference (a whole copy) is started when it would pay for
# itself within this many more versions, were they to delta against it as the usual
# ones do against the current reference.
PAYBACK_VERSIONS = 3
DRIFT_HISTORY = 3  # deltas against the current reference needed to know what is usual


def is_reserved_name(name: str) -> bool:
    """Names a direct object must not take, as they would read as internal objects.

    Such files are always stored under `{name}.delta` (as a delta, or as their own
    bytes marked `dg-kind: direct`), so the logical view stays unambiguous.
    """
    return is_internal_name(name) or name.endswith(DELTA_SUFFIX)


@dataclass(frozen=True)
class DeltaPolicy:
    """When to delta: by file type and size up front, by delta size afterwards."""

    max_ratio: float = DEFAULT_MAX_RATIO
    min_size: int = DEFAULT_MIN_SIZE
    references: str = "adaptive"
    unwrap_containers: bool = True  # delta a container's content (reading is unaffected)
    # Reference + file above this many bytes: a `zstd` writer makes `zstd-segmented`
    # deltas, whose memory does not follow the files' size (docs/FORMAT.md, section 8).
    segmented_above: int = DEFAULT_SEGMENTED_ABOVE

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_ratio <= 1.0:
            raise ConfigError(f"max ratio must be between 0 and 1, got {self.max_ratio}")
        if self.references not in REFERENCE_POLICIES:
            raise ConfigError(
                f"reference policy must be one of {', '.join(REFERENCE_POLICIES)}, "
                f"got {self.references!r}"
            )

    def should_use_delta(self, name: str, size: int) -> bool:
        """Whether a file is a delta candidate: an archive or binary, not tiny."""
        lowered = name.lower()
        return size >= self.min_size and lowered.endswith(DELTA_EXTENSIONS)

    def keeps_delta(self, delta_size: int, file_size: int) -> bool:
        """Whether a computed delta is small enough to store instead of the file."""
        return file_size > 0 and delta_size / file_size <= self.max_ratio

    def starts_new_reference(self, ratio: float, usual: float | None) -> bool:
        """Whether a file whose delta against the current reference is `ratio` of its size
        should become the DeltaSpace's new reference (`usual`: the DeltaSpace's median
        delta ratio against that reference, None while there are too few deltas)."""
        if self.references != "adaptive":
            return False
        if ratio > self.max_ratio:  # unusable: a new reference costs no more than storing it whole
            return True
        # Each later version would save (ratio - usual) of the file; the reference costs
        # (1 - usual) of it more than this version's usual delta would.
        return usual is not None and PAYBACK_VERSIONS * (ratio - usual) >= 1 - usual

    def container_for(self, name: str) -> str | None:
        """The kind of streamed container whose content new deltas of `name` are of, when
        the archive container does not look into it."""
        if not self.unwrap_containers:
            return None
        lowered = name.lower()
        found = (kind for ext, kind in CONTAINER_EXTENSIONS.items() if lowered.endswith(ext))
        return next(found, None)
