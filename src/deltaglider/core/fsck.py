"""Checking a bucket's delta storage, and repairing what can be repaired safely.

Read-only unless asked to repair. Phase one looks at the structure, from listings and
metadata: references without deltas (left by a crash between the two writes), deltas
whose reference is missing or has changed, deltas whose metadata is unreadable, and
keys stored in both forms at once. Phase two (`verify`) rebuilds every object and
checks its SHA256. Repair only removes what nothing needs: the references of a
DeltaSpace with no delta left, and the older of two forms of one key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from deltaglider.core.errors import DeltaGliderError, FormatError
from deltaglider.core.metadata import read_delta, read_reference
from deltaglider.core.models import (
    DELTA_SUFFIX,
    ObjectKey,
    folder_of,
    is_internal_key,
    is_reference_key,
)
from deltaglider.core.service import DeltaService
from deltaglider.ports import ObjectInfo


class Problem(StrEnum):
    ORPHAN_REFERENCE = "orphan reference"
    MISSING_REFERENCE = "missing reference"
    REFERENCE_CHANGED = "reference changed"
    BAD_METADATA = "bad metadata"
    DUPLICATE = "stored twice"
    CORRUPT = "corrupt"

    @property
    def repairable(self) -> bool:
        return self in (Problem.ORPHAN_REFERENCE, Problem.DUPLICATE)


@dataclass(frozen=True)
class Finding:
    key: str  # the stored key concerned
    problem: Problem
    detail: str


@dataclass
class Report:
    spaces: int = 0
    objects: int = 0
    findings: list[Finding] = field(default_factory=list)
    repaired: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return len(self.findings) == len(self.repaired)


def check(service: DeltaService, bucket: str, prefix: str = "", *, verify: bool = False) -> Report:
    """Find the problems under `prefix`; nothing is changed."""
    report = Report()
    folders: dict[str, list[ObjectInfo]] = {}
    for entry in service.storage.list(bucket, prefix):
        assert isinstance(entry, ObjectInfo)  # no delimiter: objects only
        folders.setdefault(folder_of(entry.key), []).append(entry)
        report.objects += not is_internal_key(entry.key)
    report.spaces = len(folders)
    for entries in folders.values():
        report.findings += _check_space(service, bucket, entries)
    if verify:
        report.findings += _verify_all(service, bucket, folders)
    return report


def repair(service: DeltaService, bucket: str, report: Report) -> None:
    """Remove what the findings show nothing needs; record what was removed."""
    for finding in report.findings:
        if not finding.problem.repairable:
            continue
        if finding.problem is Problem.ORPHAN_REFERENCE:
            # Only with no delta left in the DeltaSpace: an uploader may pick any of its
            # references at any moment, and removing one in use would orphan a delta.
            space = ObjectKey(bucket, finding.key).delta_space
            if not service.drop_unused_reference(space):
                continue
        else:
            service.storage.delete(bucket, finding.key)
        report.repaired.append(finding)


def _check_space(
    service: DeltaService, bucket: str, entries: list[ObjectInfo]
) -> Iterator[Finding]:
    by_key = {entry.key: entry for entry in entries}
    references = [e.key for e in entries if is_reference_key(e.key)]
    deltas = [e for e in entries if e.key.endswith(DELTA_SUFFIX)]
    reference_shas: dict[str, str | None] = {}
    used: set[str] = set()
    unreadable = False
    for delta in deltas:
        info = service.storage.head(bucket, delta.key)
        try:
            meta = read_delta(info.metadata if info else {}, delta.key)
        except FormatError as exc:
            unreadable = True
            yield Finding(delta.key, Problem.BAD_METADATA, str(exc))
            continue
        used.add(meta.ref_key)
        if meta.ref_key not in by_key:
            yield Finding(delta.key, Problem.MISSING_REFERENCE, f"{meta.ref_key} is gone")
            continue
        if meta.ref_key not in reference_shas:
            reference_shas[meta.ref_key] = _reference_sha(service, bucket, meta.ref_key)
        if reference_shas[meta.ref_key] not in (None, meta.ref_sha256):
            yield Finding(
                delta.key, Problem.REFERENCE_CHANGED, f"made against {meta.ref_sha256[:12]}"
            )
        direct = by_key.get(delta.key[: -len(DELTA_SUFFIX)])
        if direct is not None:
            older = min((direct, delta), key=lambda e: (e.last_modified, e is delta))
            yield Finding(older.key, Problem.DUPLICATE, "an older copy beside a newer one")
    if not unreadable:  # with unreadable deltas, nobody can tell which references they use
        for key in references:
            if key not in used:
                yield Finding(key, Problem.ORPHAN_REFERENCE, "no delta uses it")


def _reference_sha(service: DeltaService, bucket: str, key: str) -> str | None:
    info = service.storage.head(bucket, key)
    try:
        return read_reference(info.metadata if info else {}).sha256
    except FormatError:
        return None


def _verify_all(
    service: DeltaService, bucket: str, folders: dict[str, list[ObjectInfo]]
) -> Iterator[Finding]:
    for entries in folders.values():
        for entry in entries:
            if is_internal_key(entry.key):
                continue
            logical = entry.key.removesuffix(DELTA_SUFFIX)
            try:
                result = service.verify(ObjectKey(bucket, logical))
            except DeltaGliderError as exc:
                yield Finding(entry.key, Problem.CORRUPT, str(exc))
                continue
            if result.expected_sha256 is not None and not result.ok:
                yield Finding(entry.key, Problem.CORRUPT, "SHA256 does not match")
