"""What a DeltaSpace holds, and what of it is needed: the ground truth of fsck and gc.

Every delta's metadata is read with a HEAD (the listing index is not trusted here:
deciding that a reference is unused must not rest on an advisory document), so each
reference is known with the deltas that need it. A DeltaSpace with a delta whose
metadata cannot be read is *undecided*: nobody can tell which reference that delta
needs, so none of its references may be removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from deltaglider.core.errors import FormatError
from deltaglider.core.metadata import read_delta, stored_kind
from deltaglider.core.models import (
    DELTA_SUFFIX,
    UPLOAD_RECORD_PREFIX,
    DeltaSpace,
    folder_of,
    is_gc_lock_name,
    is_probe_name,
    is_reference_key,
    staged_part_upload,
)
from deltaglider.ports import CommonPrefix, ObjectInfo, StoragePort

HEADS_AT_ONCE = 8


@dataclass(frozen=True)
class DeltaUse:
    """Which reference one stored `.delta` object needs (None: it is stored whole)."""

    ref_key: str | None
    ref_sha256: str | None


@dataclass
class Inventory:
    """One listing of a DeltaSpace, with the reference each of its deltas needs."""

    space: DeltaSpace
    entries: dict[str, ObjectInfo]  # stored key -> listed object
    uses: dict[str, DeltaUse] = field(default_factory=dict)  # delta key -> what it needs
    unreadable: dict[str, str] = field(default_factory=dict)  # delta key -> why

    @property
    def references(self) -> list[ObjectInfo]:
        return [info for key, info in self.entries.items() if is_reference_key(key)]

    @property
    def deltas(self) -> list[ObjectInfo]:
        return [info for key, info in self.entries.items() if key.endswith(DELTA_SUFFIX)]

    @property
    def decided(self) -> bool:
        """Whether it is known which references are needed (every delta readable)."""
        return not self.unreadable

    def users(self, ref_key: str) -> list[str]:
        """The deltas made against this reference."""
        return [key for key, use in self.uses.items() if use.ref_key == ref_key]

    def unused_references(self) -> list[ObjectInfo]:
        """References no delta needs; none while the DeltaSpace is undecided."""
        if not self.decided:
            return []
        needed = {use.ref_key for use in self.uses.values()}
        return [info for info in self.references if info.key not in needed]

    @property
    def index(self) -> ObjectInfo | None:
        return self.entries.get(self.space.index_key)

    @property
    def leftovers(self) -> list[ObjectInfo]:
        """Probes and gc locks: short-lived objects a crashed process may have left."""
        return [
            info
            for key, info in self.entries.items()
            if is_probe_name(name := key[len(self.space.prefix) :]) or is_gc_lock_name(name)
        ]

    @property
    def orphaned_parts(self) -> list[ObjectInfo]:
        """Parts the gateway staged (at the bucket's root, core/multipart.py) for an
        upload whose record is gone: a part that arrived while its upload was completed
        or aborted. Nothing can list, complete or abort them any more. (A record sorts
        after its parts, so one listing never shows a live upload's parts without it.)"""
        return [
            info
            for key, info in self.entries.items()
            if (upload := staged_part_upload(key)) is not None
            and UPLOAD_RECORD_PREFIX + upload not in self.entries
        ]


def take_inventory(storage: StoragePort, space: DeltaSpace, entries: list[ObjectInfo]) -> Inventory:
    """The DeltaSpace's objects, with what each delta needs (a HEAD each, side by side).

    Never from an earlier look: a delta replaced by one with the same bytes (say, a
    tiny self-delta) has the same ETag but may name another reference."""
    inventory = Inventory(space, {entry.key: entry for entry in entries})
    with ThreadPoolExecutor(max_workers=HEADS_AT_ONCE) as pool:
        heads = pool.map(lambda d: storage.head(space.bucket, d.key), inventory.deltas)
        for info in heads:
            if info is None:  # deleted since it was listed: it needs nothing any more
                continue
            if stored_kind(info.metadata) == "direct":
                inventory.uses[info.key] = DeltaUse(None, None)
                continue
            try:
                meta = read_delta(info.metadata, info.key)
            except FormatError as exc:
                inventory.unreadable[info.key] = str(exc)
                continue
            inventory.uses[info.key] = DeltaUse(meta.ref_key, meta.ref_sha256)
    return inventory


def list_space(storage: StoragePort, space: DeltaSpace) -> list[ObjectInfo]:
    """The objects directly in a DeltaSpace (not in its sub-folders)."""
    return [
        entry
        for entry in storage.list(space.bucket, space.prefix, "/")
        if isinstance(entry, ObjectInfo)
    ]


def spaces_under(
    storage: StoragePort, bucket: str, prefix: str
) -> Iterator[tuple[DeltaSpace, list[ObjectInfo]]]:
    """Every DeltaSpace holding keys that start with `prefix`, whole, with its objects:
    the folder of `prefix` itself, then every folder below it that starts with it. One
    delimited listing per folder, so only one folder is held at a time."""
    pending = [folder_of(prefix)]
    while pending:
        folder = pending.pop()
        objects: list[ObjectInfo] = []
        below: list[str] = []
        for entry in storage.list(bucket, folder, "/"):
            if isinstance(entry, CommonPrefix):
                if entry.prefix.startswith(prefix):
                    below.append(entry.prefix)
            else:
                objects.append(entry)
        if objects:
            yield DeltaSpace(bucket, folder), objects
        pending.extend(reversed(below))  # folders in key order
