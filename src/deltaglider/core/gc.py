"""Garbage collection: removing the internal objects no logical object needs any more.

Deletes and overwrites never remove a reference, since an upload in another process may
be making a delta against it at that very moment. This step does, DeltaSpace by
DeltaSpace, under the DeltaSpace's gc lock (gc_lock.py explains why that is safe):

- references no delta needs, once older than the grace period (a younger one may be
  waiting for the delta of the upload that has just created it);
- the listing index of a DeltaSpace with no delta left;
- probes and gc locks that crashed processes left behind (an hour old or more);
- parts the gateway staged for an upload that is gone (core/inventory.py).

Beside the DeltaSpaces, it aborts the incomplete uploads (S3's multipart uploads, which
keep their parts, billed and unlisted, until aborted) of DeltaGlider's own keys
(references, `.delta` objects, `.dg-*` objects) that have not moved for the grace
period: a process killed in the middle of a large upload leaves one. An upload's last
move is the later of its start and its newest part, not its start alone: so an upload
under way in another process, however long it takes, is never aborted, and a server
that misdates uploads (moto says 2010 for all of them) still dates their parts. Uploads
of other keys may be a user's own, through plain S3: they are never touched. Neither
are the gateway's staged uploads that still have their record: they are its clients'
uploads, listed and aborted through the gateway as S3's are.

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
from deltaglider.core.errors import AccessDenied
from deltaglider.core.inventory import Inventory, list_space, spaces_under, take_inventory
from deltaglider.core.models import DELTA_SUFFIX, DeltaSpace, folder_of, is_stored_by_us
from deltaglider.ports import ClockPort, LoggerPort, ObjectInfo, StoragePort

DEFAULT_GRACE = timedelta(hours=1)
LEFTOVER_AGE = gc_lock.ABANDONED_AFTER  # probes and locks live for seconds, never this long


@dataclass(frozen=True)
class Unused:
    """An internal object nothing needs; `due` is when it may go."""

    key: str
    size: int
    what: str  # "reference", "index", "leftover", "part", "upload"
    due: datetime
    upload_id: str = ""  # of an "upload": an incomplete upload of `key`


@dataclass
class GcReport:
    removed: list[Unused] = field(default_factory=list)
    aborted: list[Unused] = field(default_factory=list)  # incomplete uploads
    scheduled: list[Unused] = field(default_factory=list)  # within the grace period
    busy: list[DeltaSpace] = field(default_factory=list)  # another gc held the lock
    undecided: list[DeltaSpace] = field(default_factory=list)  # unreadable deltas
    denied: list[AccessDenied] = field(default_factory=list)  # uploads not to be listed/aborted

    @property
    def freed_bytes(self) -> int:
        return sum(item.size for item in self.removed + self.aborted)


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
    found += [
        Unused(info.key, info.size, "part", info.last_modified + grace)
        for info in inventory.orphaned_parts
    ]
    return found


def abandoned_uploads(
    storage: StoragePort, bucket: str, prefix: str, grace: timedelta
) -> list[Unused]:
    """The incomplete uploads of DeltaGlider's own keys in the DeltaSpaces under `prefix`
    (as `Collector.collect` covers them), each due the grace period after it last moved."""
    folder = folder_of(prefix)
    found = []
    for upload in storage.incomplete_uploads(bucket, folder):
        space = folder_of(upload.key)
        if not is_stored_by_us(upload.key) or not (space == folder or space.startswith(prefix)):
            continue
        progress = storage.upload_progress(bucket, upload.key, upload.upload_id)
        if progress is None:  # completed or aborted since it was listed
            continue
        moved = max(upload.initiated, progress.last_part or upload.initiated)
        found.append(Unused(upload.key, progress.size, "upload", moved + grace, upload.upload_id))
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
        self._abort_abandoned(bucket, prefix, grace, report, dryrun)
        return report

    def _abort_abandoned(
        self, bucket: str, prefix: str, grace: timedelta, report: GcReport, dryrun: bool
    ) -> None:
        """Abort the incomplete uploads of our keys that are due. No gc lock is needed: an
        abort never touches a stored object, and the uploader it might stop (one stalled
        for the whole grace period) fails, leaving no object behind. A user not allowed
        to list or abort uploads (S3's ListBucketMultipartUploads, AbortMultipartUpload)
        still has the rest of gc: the refusals are reported."""
        now = self.clock.now()
        try:
            found = abandoned_uploads(self.storage, bucket, prefix, grace)
        except AccessDenied as exc:
            report.denied.append(exc)
            return
        for item in found:
            if item.due > now:
                report.scheduled.append(item)
                continue
            if not dryrun:
                try:
                    self.storage.abort_upload(bucket, item.key, item.upload_id)
                except AccessDenied as exc:
                    report.denied.append(exc)
                    continue
                self.logger.debug("gc aborted upload %s of s3://%s/%s",
                                  item.upload_id, bucket, item.key)  # fmt: skip
            report.aborted.append(item)

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
