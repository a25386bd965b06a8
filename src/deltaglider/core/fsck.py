"""Checking a bucket's delta storage, and repairing what can be repaired safely.

Read-only unless asked to repair. Phase one looks at the structure of each DeltaSpace
(core/inventory.py): deltas whose reference is missing or has changed, deltas whose
metadata is unreadable, keys stored in both forms at once, and what nothing needs
(unused references, a stale listing index, leftovers of crashed processes, incomplete
uploads of our own keys that nothing moves any more). Phase two
(`verify`) rebuilds every object and checks its SHA256. Repair runs garbage collection
(core/gc.py) and removes the older of two forms of one key; unused objects still
within the grace period are not problems: they are listed as scheduled for removal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from deltaglider.core.errors import AccessDenied, DeltaGliderError, FormatError
from deltaglider.core.gc import Collector, Unused, abandoned_uploads, unused_objects
from deltaglider.core.inventory import Inventory, spaces_under, take_inventory
from deltaglider.core.metadata import read_reference
from deltaglider.core.models import DELTA_SUFFIX, ObjectKey, is_internal_key
from deltaglider.core.policy import is_reserved_name
from deltaglider.core.service import DeltaService


class Problem(StrEnum):
    UNUSED = "unused"
    MISSING_REFERENCE = "missing reference"
    REFERENCE_CHANGED = "reference changed"
    BAD_METADATA = "bad metadata"
    DUPLICATE = "stored twice"
    CORRUPT = "corrupt"

    @property
    def repairable(self) -> bool:
        return self in (Problem.UNUSED, Problem.DUPLICATE)


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
    scheduled: list[Unused] = field(default_factory=list)  # unused, within the grace period

    @property
    def clean(self) -> bool:
        return len(self.findings) == len(self.repaired)


def check(
    service: DeltaService,
    bucket: str,
    prefix: str = "",
    *,
    verify: bool = False,
    grace: timedelta,
) -> Report:
    """Find the problems in the DeltaSpaces under `prefix`; nothing is changed."""
    report = Report()
    now = service.clock.now()
    for space, entries in spaces_under(service.storage, bucket, prefix):
        inventory = take_inventory(service.storage, space, entries)
        report.spaces += 1
        report.objects += sum(not is_internal_key(key) for key in inventory.entries)
        report.findings += _check_space(service, inventory)
        _sort_unused(report, unused_objects(inventory, grace), now)
        if verify:
            report.findings += _verify_space(service, inventory)
    try:
        _sort_unused(report, abandoned_uploads(service.storage, bucket, prefix, grace), now)
    except AccessDenied as exc:  # a user not allowed to list uploads checks the rest
        service.logger.warning("incomplete uploads not checked: %s", exc)
    return report


def _sort_unused(report: Report, unused: list[Unused], now: datetime) -> None:
    """Unused objects due for removal are findings; the others are scheduled."""
    for item in unused:
        if item.due > now:
            report.scheduled.append(item)
        else:
            report.findings.append(Finding(item.key, Problem.UNUSED, why_unused(item)))


def repair(
    service: DeltaService, bucket: str, prefix: str, report: Report, *, grace: timedelta
) -> None:
    """Remove what the findings show nothing needs; record what was removed."""
    collector = Collector(service.storage, service.clock, service.logger)
    collected = collector.collect(bucket, prefix, grace=grace)
    removed = {(item.key, why_unused(item)) for item in collected.removed + collected.aborted}
    for finding in report.findings:
        if finding.problem is Problem.DUPLICATE:
            service.storage.delete(bucket, finding.key)
        elif (finding.key, finding.detail) not in removed:
            continue
        report.repaired.append(finding)


def why_unused(item: Unused) -> str:
    """One line on why nothing needs an unused object."""
    if item.what == "upload":
        return f"incomplete upload {item.upload_id}"
    return {
        "reference": "no delta uses it",
        "index": "listing index of a prefix with no delta",
        "leftover": "left by a process that stopped",
        "part": "part staged for a gateway upload that is gone",
    }[item.what]


def _check_space(service: DeltaService, inventory: Inventory) -> Iterator[Finding]:
    reference_shas: dict[str, str | None] = {}
    for key, reason in inventory.unreadable.items():
        yield Finding(key, Problem.BAD_METADATA, reason)
    for key, use in inventory.uses.items():
        logical = key[: -len(DELTA_SUFFIX)]
        direct = inventory.entries.get(logical)
        if direct is not None and not is_reserved_name(logical.rsplit("/", 1)[-1]):
            delta = inventory.entries[key]
            older = min((direct, delta), key=lambda e: (e.last_modified, e is delta))
            yield Finding(older.key, Problem.DUPLICATE, "an older copy beside a newer one")
        if use.ref_key is None:  # a reserved name stored whole
            continue
        if use.ref_key not in inventory.entries:
            yield Finding(key, Problem.MISSING_REFERENCE, f"{use.ref_key} is gone")
            continue
        if use.ref_key not in reference_shas:
            reference_shas[use.ref_key] = _reference_sha(service, inventory, use.ref_key)
        if reference_shas[use.ref_key] not in (None, use.ref_sha256):
            made_against = (use.ref_sha256 or "")[:12]
            yield Finding(key, Problem.REFERENCE_CHANGED, f"made against {made_against}")


def _reference_sha(service: DeltaService, inventory: Inventory, key: str) -> str | None:
    info = service.storage.head(inventory.space.bucket, key)
    try:
        return read_reference(info.metadata if info else {}).sha256
    except FormatError:
        return None


def _verify_space(service: DeltaService, inventory: Inventory) -> Iterator[Finding]:
    bucket = inventory.space.bucket
    for key in inventory.entries:
        if is_internal_key(key):
            continue
        logical = key.removesuffix(DELTA_SUFFIX)
        try:
            result = service.verify(ObjectKey(bucket, logical))
        except DeltaGliderError as exc:
            yield Finding(key, Problem.CORRUPT, str(exc))
            continue
        if result.expected_sha256 is not None and not result.ok:
            yield Finding(key, Problem.CORRUPT, "SHA256 does not match")
