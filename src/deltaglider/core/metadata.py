"""The storage format's metadata: what each stored object carries, written and read.

Documented in docs/FORMAT.md. Writing always uses the current format (`dg-format: 1`),
within S3's 2 KB of user metadata whatever the key; reading also accepts what
DeltaGlider 6.x and earlier wrote: the same `dg-` keys without `dg-format`, and the
older bare keys (`file_sha256`, `file-sha256`, ...).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from deltaglider.core.attributes import HEADER_SAFE, Attributes, read_attributes
from deltaglider.core.errors import FormatError
from deltaglider.core.limits import METADATA_LIMIT, metadata_size
from deltaglider.core.models import folder_of

FORMAT_VERSION = 1
PREFIX = "dg-"
DEFAULT_CODEC = "xdelta3"  # the only codec before codecs were recorded
NAME_KEY = "dg-original-name"
SKETCH_KEY = "dg-sketch"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SAFE = HEADER_SAFE


@dataclass(frozen=True)
class ReferenceMeta:
    """Metadata of `{prefix}reference.bin`: the file it was made from."""

    name: str
    sha256: str
    size: int | None
    created_at: datetime | None
    tool: str
    sketch: str | None = None  # the content's similarity sketch (core/sketch.py)
    encoding: str | None = None  # the codec whose frame of the file is stored, if any

    def to_metadata(self) -> dict[str, str]:
        """The name, which the reference policy matches by its start, is shortened if
        the metadata would not fit otherwise."""
        meta = _written(
            "reference", self.tool, self.name, self.sha256, self.size, None, self.created_at
        )
        if self.encoding is not None:
            meta["dg-encoding"] = self.encoding
        if self.sketch is not None:
            meta[SKETCH_KEY] = self.sketch
        excess = metadata_size(meta) - METADATA_LIMIT
        if excess > 0:
            meta[NAME_KEY] = _shortened(self.name, len(meta[NAME_KEY]) - excess)
        return meta


@dataclass(frozen=True)
class DeltaMeta:
    """Metadata of `{prefix}{name}.delta`: what rebuilds the file and how to check it."""

    name: str
    sha256: str
    size: int
    mtime: datetime | None
    created_at: datetime | None
    ref_key: str
    ref_sha256: str
    delta_size: int | None
    codec: str
    tool: str
    container: str | None = None  # e.g. "gzip": the delta is of the uncompressed content
    recipe: str | None = None  # how the container rebuilds the original bytes
    attributes: Attributes = dataclasses.field(default_factory=Attributes)  # what clients get back

    def to_metadata(self, delta_key: str) -> dict[str, str]:
        """The reference is named relative to the delta's own folder, where it lives."""
        meta = _written(
            "delta", self.tool, self.name, self.sha256, self.size, self.mtime, self.created_at
        )
        meta |= {
            "dg-ref-key": quote(_relative_ref(self.ref_key, delta_key), safe=_SAFE),
            "dg-ref-sha256": self.ref_sha256,
            "dg-codec": self.codec,
        }
        if self.delta_size is not None:
            meta["dg-delta-size"] = str(self.delta_size)
        if self.container is not None and self.recipe is not None:
            meta["dg-container"] = self.container
            meta["dg-container-recipe"] = quote(self.recipe, safe=_SAFE)
        return _without_name_if_too_large(meta | self.attributes.to_metadata())


@dataclass(frozen=True)
class DirectMeta:
    """Metadata of a file stored as itself."""

    name: str
    sha256: str
    size: int
    mtime: datetime | None
    created_at: datetime | None
    tool: str
    attributes: Attributes = dataclasses.field(default_factory=Attributes)  # what clients get back

    def to_metadata(self) -> dict[str, str]:
        written = _written(
            "direct", self.tool, self.name, self.sha256, self.size, self.mtime, self.created_at
        )
        return _without_name_if_too_large(written | self.attributes.to_metadata())


def stored_kind(meta: Mapping[str, str]) -> str | None:
    """What a stored object says it is (`dg-kind`): `reference`, `delta`, `direct`; None
    for objects written before kinds were recorded, or by others."""
    return {k.lower(): v for k, v in meta.items()}.get("dg-kind")


def read_reference(meta: Mapping[str, str]) -> ReferenceMeta:
    """Parse a reference's metadata; FormatError when the SHA256 is missing or bad."""
    fields = _Fields(meta)
    return ReferenceMeta(
        name=fields.name("original-name", "source-name"),
        sha256=fields.sha256("file-sha256"),
        size=fields.optional_int("file-size"),
        created_at=fields.optional_time("created-at"),
        tool=fields.text("tool"),
        sketch=fields.get("sketch"),
        encoding=fields.get("encoding"),
    )


def read_delta(meta: Mapping[str, str], delta_key: str) -> DeltaMeta:
    """Parse the metadata of the delta stored at `delta_key`; FormatError when anything
    needed to rebuild is missing. `ref_key` comes back as the reference's full key."""
    fields = _Fields(meta)
    return DeltaMeta(
        name=fields.name("original-name", "source-name"),
        sha256=fields.sha256("file-sha256"),
        size=fields.required_int("file-size"),
        mtime=fields.optional_time("file-mtime"),
        created_at=fields.optional_time("created-at"),
        ref_key=_resolved_ref(fields.required_name("ref-key"), delta_key),
        ref_sha256=fields.sha256("ref-sha256"),
        delta_size=fields.optional_int("delta-size"),
        codec=fields.codec(),
        tool=fields.text("tool"),
        container=fields.get("container"),
        recipe=fields.container_recipe(),
        attributes=read_attributes(meta),
    )


def read_direct(meta: Mapping[str, str]) -> DirectMeta | None:
    """Parse a direct object's metadata; None for a plain object DeltaGlider did not write."""
    fields = _Fields(meta)
    if fields.get("file-sha256") is None:
        return None
    return DirectMeta(
        name=fields.name("original-name", "source-name"),
        sha256=fields.sha256("file-sha256"),
        size=fields.required_int("file-size"),
        mtime=fields.optional_time("file-mtime"),
        created_at=fields.optional_time("created-at"),
        tool=fields.text("tool"),
        attributes=read_attributes(meta),
    )


def recipe_fits(recipe: str, *, container: str, codec: str, tool: str) -> bool:
    """Whether a delta recording this container recipe fits S3's metadata limit whatever
    its sizes, times and reference (its name is dropped if need be)."""
    widest = DeltaMeta(
        name="",
        sha256=_ANY_SHA256,
        size=_LARGEST_OBJECT,
        mtime=_ANY_TIME,
        created_at=_ANY_TIME,
        ref_key=_LONGEST_REFERENCE,
        ref_sha256=_ANY_SHA256,
        delta_size=_LARGEST_OBJECT,
        codec=codec,
        tool=tool,
        container=container,
        recipe=recipe,
    ).to_metadata("any.delta")
    widest.pop(NAME_KEY, None)
    return metadata_size(widest) <= METADATA_LIMIT


# The widest values of the fields a recipe shares the metadata with.
_ANY_SHA256 = "0" * 64
_ANY_TIME = datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC)  # microseconds make it widest
_LARGEST_OBJECT = 5 * 1024**4  # S3's largest object
_LONGEST_REFERENCE = f"reference-{'0' * 16}.bin"


def _relative_ref(ref_key: str, delta_key: str) -> str:
    """A reference's name in the delta's folder: short whatever the key (FORMAT.md 3)."""
    folder = folder_of(delta_key)
    name = ref_key[len(folder) :]
    if not ref_key.startswith(folder) or "/" in name:
        raise ValueError(f"reference {ref_key!r} is not beside its delta {delta_key!r}")
    return name


def _resolved_ref(value: str, delta_key: str) -> str:
    """The reference's full key: a bare name lives in the delta's folder; a value with a
    `/` is a key in the bucket, as DeltaGlider 6.x wrote it."""
    return value if "/" in value else folder_of(delta_key) + value


def _without_name_if_too_large(meta: dict[str, str]) -> dict[str, str]:
    """A delta's or direct object's name is its key's last segment: nothing needs it
    recorded, so it goes when the metadata would not fit S3's limit otherwise."""
    if metadata_size(meta) > METADATA_LIMIT:
        del meta[NAME_KEY]
    return meta


def _shortened(name: str, room: int) -> str:
    """The longest start of `name` (whole characters) whose encoded form fits `room`."""
    used = 0
    for end, char in enumerate(name):
        used += len(quote(char, safe=_SAFE))
        if used > room:
            return quote(name[:end], safe=_SAFE)
    return quote(name, safe=_SAFE)


def _written(
    kind: str,
    tool: str,
    name: str,
    sha256: str,
    size: int | None,
    mtime: datetime | None,
    created_at: datetime | None,
) -> dict[str, str]:
    meta = {
        "dg-format": str(FORMAT_VERSION),
        "dg-kind": kind,
        "dg-tool": tool,
        NAME_KEY: quote(name, safe=_SAFE),
        "dg-file-sha256": sha256,
    }
    if size is not None:
        meta["dg-file-size"] = str(size)
    if mtime is not None:
        meta["dg-file-mtime"] = _time(mtime)
    if created_at is not None:
        meta["dg-created-at"] = _time(created_at)
    return meta


def _time(moment: datetime) -> str:
    """UTC ISO 8601 with a `Z`, e.g. 2026-11-21T08:30:00.123456Z."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


class _Fields:
    """Looks fields up under every spelling a DeltaGlider version has written."""

    def __init__(self, meta: Mapping[str, str]) -> None:
        self._meta = {k.lower(): v for k, v in meta.items()}
        version = self._meta.get("dg-format")
        if version is not None:
            if not version.isdigit():
                raise FormatError(f"malformed metadata: dg-format={version!r}")
            if int(version) > FORMAT_VERSION:
                raise FormatError(
                    f"object written in storage format {version}; this DeltaGlider reads "
                    f"up to {FORMAT_VERSION}: upgrade DeltaGlider"
                )
        self._quoted = version is not None

    def get(self, field: str) -> str | None:
        """First non-empty value of `dg-{field}`, `{field_underscored}` or `{field}`."""
        for key in (PREFIX + field, field.replace("-", "_"), field):
            value = self._meta.get(key)
            if value:
                return value
        return None

    def text(self, field: str) -> str:
        return self.get(field) or ""

    def name(self, *fields: str) -> str:
        for field in fields:
            value = self.get(field)
            if value is not None:
                return unquote(value) if self._quoted else value
        return ""

    def required_name(self, field: str) -> str:
        value = self.name(field)
        if not value:
            raise FormatError(f"metadata lacks {PREFIX}{field}")
        return value

    def sha256(self, field: str) -> str:
        value = (self.get(field) or "").lower()
        if not _SHA256.fullmatch(value):
            raise FormatError(f"metadata has no valid {PREFIX}{field}")
        return value

    def optional_int(self, field: str) -> int | None:
        value = self.get(field)
        if value is None:
            return None
        if not value.isdigit():
            raise FormatError(f"malformed metadata: {PREFIX}{field}={value!r}")
        return int(value)

    def required_int(self, field: str) -> int:
        value = self.optional_int(field)
        if value is None:
            raise FormatError(f"metadata lacks {PREFIX}{field}")
        return value

    def optional_time(self, field: str) -> datetime | None:
        value = self.get(field)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise FormatError(f"malformed metadata: {PREFIX}{field}={value!r}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def container_recipe(self) -> str | None:
        if self.get("container") is None:
            return None
        return self.required_name("container-recipe")

    def codec(self) -> str:
        codec = self.get("codec")
        if codec is not None:
            return codec
        # Before codecs were recorded every delta was xdelta3 VCDIFF; 6.x noted the command.
        command = self.get("delta-cmd") or ""
        return DEFAULT_CODEC if not command or "xdelta3" in command else command.split()[0]
