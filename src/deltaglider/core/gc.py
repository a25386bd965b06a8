"""Garbage collection: removing the internal objects no logical object needs any more.

Deletes and overwrites never remove a reference, since an upload in another process may
be making a delta against it at that very moment. This step does, DeltaSpace by
DeltaSpace, under the DeltaSpace's gc lock (gc_lock.py explains why that is safe):

- references no delta needs, once older than the grace period (a younger one may be
  waiting for the delta of the upload that has just created it);
- the listing index of a DeltaSpace with no delta left;
- probes and gc locks that crashed processes left behind (an hour old or more).

What is unused but still within the grace period is reported as scheduled. A
DeltaSpace whose last delta a command has just deleted is collected with no grace
period (`collect_emptied`), so that `rm` of everything in a prefix leaves nothing, as
with `aws s3 rm`; that is as safe as any collection, only an upload that has just
created a reference there may have to go again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from deltaglider.core import gc_lock
from deltaglider.core.inventory import Inventory, list_space, spaces_under, take_inventory
from deltaglider.core.models import DELTA_SUFFIX, DeltaSpace
from deltaglider.ports import ClockPort, LoggerPort, ObjectInfo, StoragePort

DEFAULT_GRACE = timedelta(hours=1)
LEFTOVER_AGE = gc_lock.ABANDONED_AFTER  # probes and locks live for seconds, never this long


@dataclass(frozen=True)
class Unused:
    """An internal object nothing needs; `due` is when it may go."""

    key: str
    size: int
    what: str  # "reference", "index", "leftover"
    due: datetime


@dataclass
class GcReport:
    removed: list[Unused] = field(default_factory=list)
    scheduled: list[Unused] = field(default_factory=list)  # within the grace period
    busy: list[DeltaSpace] = field(default_factory=list)  # another gc held the lock
    undecided: list[DeltaSpace] = field(default_factory=list)  # unreadable deltas

    @property
    def freed_bytes(self) -> int:
        return sum(item.size for item in self.removed)


def unused_objects(inventory: Inventory, grace: timedelta) -> list[Unused]:
    """What in a DeltaSpace nothing needs, each with when it may be removed."""
    found = [
        Unused(info.key, info.size, "reference", info.last_modified + grace)
        for info in inventory.unused_references()
    ]
    index = inventory.index
    if index is not None and not inventory.deltas:
        found.append(Unused(index.key, index.size, "index", index.last_modified))
    found += [
        Unused(info.key, info.size, "leftover", info.last_modified + LEFTOVER_AGE)
        for info in inventory.leftovers
    ]
    return found


class Collector:
    """Runs garbage collection over DeltaSpaces."""

    def __init__(self, storage: StoragePort, clock: ClockPort, logger: LoggerPort) -> None:
        self.storage = storage
        self.clock = clock
        self.logger = logger

    def collect(
        self, bucket: str, prefix: str = "", *, grace: timedelta, dryrun: bool = False
    ) -> GcReport:
        """Remove what is unused and due in every DeltaSpace under `prefix` (whole
        DeltaSpaces: `rel/app-1` covers the DeltaSpace `rel/`)."""
        report = GcReport()
        for space, entries in spaces_under(self.storage, bucket, prefix):
            self._collect_space(space, entries, grace, report, dryrun)
        return report

    def collect_emptied(self, spaces: Iterable[DeltaSpace]) -> GcReport:
        """Collect, with no grace period, those of these DeltaSpaces that hold no delta."""
        report = GcReport()
        for space in spaces:
            entries = list_space(self.storage, space)
            if entries and not any(e.key.endswith(DELTA_SUFFIX) for e in entries):
                self._collect_space(space, entries, timedelta(0), report, dryrun=False)
        return report

    def _collect_space(
        self,
        space: DeltaSpace,
        entries: list[ObjectInfo],
        grace: timedelta,
        report: GcReport,
        dryrun: bool,
    ) -> None:
        first = take_inventory(self.storage, space, entries)
        if not first.decided:
            report.undecided.append(space)
        now = self.clock.now()
        unused = unused_objects(first, grace)
        due = [item for item in unused if item.due <= now]
        report.scheduled += [item for item in unused if item.due > now]
        if not due:
            return
        if dryrun:
            report.removed += due
            return
        lock = gc_lock.take(self.storage, space, now)
        if lock is None:
            report.busy.append(space)
            return
        try:
            # Only what a listing taken under the lock still shows unused may go.
            second = take_inventory(self.storage, space, list_space(self.storage, space))
            still_unused = {
                item.key: item for item in unused_objects(second, grace) if item.due <= now
            }
            for item in due:
                listed = second.entries.get(item.key)
                if item.key not in still_unused or listed is None:
                    continue
                if not lock.still_valid():  # too slow: the uploaders' wait may be over
                    report.busy.append(space)
                    return
                self.storage.delete(space.bucket, item.key)
                self.logger.debug("gc removed s3://%s/%s (%s)", space.bucket, item.key, item.what)
                report.removed.append(item)
        finally:
            gc_lock.release(self.storage, lock)
