"""The gc lock of a DeltaSpace: what lets unused references be removed while uploads go on.

S3 has no transactions: "no delta uses this reference" can be true when a collector
lists the DeltaSpace and false a moment later, when an uploader stores a delta made
against it. The rule that closes that gap (docs/FORMAT.md section 4, rule 6):

- A collector removes references only while it holds the DeltaSpace's lock, and only
  what a listing taken *after* the lock was written shows unused; it removes nothing
  once HOLD_LIMIT has passed since it started writing the lock.
- An uploader, after storing a delta, waits until no lock is held in the DeltaSpace,
  then checks that the reference (with the SHA256 it used) is still there; if not, it
  uploads again against what is there now.

Either the collector's listing shows the new delta (and the reference stays), or the
uploader's check comes after the lock was written, and then it either sees the lock
(and waits for the collector to finish) or comes after the collector finished (and sees
the reference gone). Locks need no conditional writes: each holder writes its own
`{prefix}.dg-gc-lock-{random}` and then lists them all; it goes on only if it is alone,
so of two collectors at most one goes on (the later writer's listing shows the other).

A lock left by a collector that was killed is waited on for LEASE seconds at most (timed
by the waiter's own clock, so clocks need not agree); other collectors take it for
abandoned once the store says it is ABANDONED_AFTER old.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from deltaglider.core.models import DeltaSpace, is_gc_lock_name
from deltaglider.core.scratch import scratch_dir
from deltaglider.ports import ObjectInfo, StoragePort

LEASE = 60.0  # seconds a waiter waits on one lock at most
HOLD_LIMIT = LEASE / 3  # a holder removes nothing later than this after taking its lock
ABANDONED_AFTER = timedelta(hours=1)  # a lock this old (store time) was left by a crash
POLL = 0.2  # seconds between looks while a lock is held


@dataclass(frozen=True)
class GcLock:
    """A lock this process holds on one DeltaSpace."""

    space: DeltaSpace
    key: str
    taken_at: float  # time.monotonic() before the lock was written

    def still_valid(self) -> bool:
        """Whether removals may still be made under this lock (see HOLD_LIMIT)."""
        return time.monotonic() - self.taken_at < HOLD_LIMIT


def take(storage: StoragePort, space: DeltaSpace, now: datetime) -> GcLock | None:
    """Take the DeltaSpace's lock; None when another collector holds it. Locks
    abandoned by crashed collectors are removed on the way."""
    taken_at = time.monotonic()
    key = f"{space.gc_lock_prefix}{secrets.token_hex(8)}"
    with scratch_dir() as work:
        body = work / "lock"
        body.write_bytes(b"deltaglider gc lock\n")
        storage.upload(space.bucket, key, body, {"dg-kind": "gc-lock"})
    others = [info for info in _locks(storage, space) if info.key != key]
    if any(not _abandoned(info, now) for info in others):
        storage.delete(space.bucket, key)
        return None
    for info in others:
        storage.delete(space.bucket, info.key)
    return GcLock(space, key, taken_at)


def release(storage: StoragePort, lock: GcLock) -> None:
    storage.delete(lock.space.bucket, lock.key)


def wait_until_free(
    storage: StoragePort,
    space: DeltaSpace,
    now: Callable[[], datetime],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once no collector can still be removing anything in the DeltaSpace: every
    lock seen is gone, abandoned, or has been seen for LEASE seconds."""
    first_seen: dict[str, float] = {}
    while True:
        looked_at = time.monotonic()
        held = [
            info.key
            for info in _locks(storage, space)
            if not _abandoned(info, now())
            and looked_at - first_seen.setdefault(info.key, looked_at) < LEASE
        ]
        if not held:
            return
        sleep(POLL)


def _locks(storage: StoragePort, space: DeltaSpace) -> list[ObjectInfo]:
    return [
        entry
        for entry in storage.list(space.bucket, space.gc_lock_prefix, "/")
        if isinstance(entry, ObjectInfo) and is_gc_lock_name(entry.key[len(space.prefix) :])
    ]


def _abandoned(info: ObjectInfo, now: datetime) -> bool:
    return now - info.last_modified > ABANDONED_AFTER
