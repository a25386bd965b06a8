"""Stored order to logical order: a store's listing shown by logical keys, still sorted.

A store lists stored keys in UTF-8 byte order, but `K.delta` shows as `K`, which can
sort before keys listed ahead of it: `app.zip-notes.txt` comes before `app.zip.delta`,
yet `app.zip` comes before `app.zip-notes.txt`. The listing is put back in order with
a small heap, holding back only the entries that a later key could still overtake.

The rule. After the store has listed stored key `t` (every later one sorts after it), a
later direct key shows as itself, after `t`. A later `X.delta` shows as `X`, and `X` can
sort before `t` only when it is a proper prefix of `t` with the rest of `t` sorting
before `.delta` (starting with a byte below `.`, or with `.` and then below `delta`):
`t = app.zip-notes.txt` allows `app.zip` (`-notes.txt` < `.delta`) and `app` (`.zip-...`
< `.delta`), but not `app.zi`. Those candidates are nested, so the shortest is the
smallest, and the low-water mark is the shortest candidate `X` (one whose `X.delta`
could be in this listing at all), else `t` itself. Every logical key still to come is
at or above the mark, so entries below it go out; one equal to it waits, as its other
stored form may follow (a crash can leave `K` and `K.delta`: the newer is shown).

Translating `start_after`: a stored key never sorts before its logical key, so every
stored key showing a logical key after `start_after` is itself after `start_after`: the
store lists from there, and keys showing a logical key at or before it are dropped.

Bounded memory. In a folder of `app-1.0.zip` .. `app-9.9.zip` every entry would wait
for a possible `app.delta` (`-` sorts before `.`). When `hold` entries wait, the mark's
`X.delta` is looked up directly (one HEAD, the `probe`); found or not, `X` then bounds
nothing, and the mark moves up to the next candidate. So at most about `hold` entries
wait, whatever the listing's size.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from deltaglider.core.models import DELTA_SUFFIX, LogicalObject, logical_key
from deltaglider.ports import CommonPrefix, ObjectInfo

HOLD = 10_000  # entries a full listing lets wait before looking candidates up
Probe = Callable[[str], ObjectInfo | None]  # a stored key's object, None when absent


@dataclass(frozen=True)
class Listed:
    """One entry of the logical view: its logical key (a prefix for a CommonPrefix) and
    the stored entry behind it."""

    key: str
    entry: ObjectInfo | CommonPrefix


@dataclass(frozen=True)
class ListPage:
    """A page of the logical view; `next_start_after` continues it (None: nothing follows)."""

    entries: Sequence[LogicalObject | CommonPrefix]
    next_start_after: str | None

    @property
    def truncated(self) -> bool:
        return self.next_start_after is not None


def logical_order(
    stored: Iterable[ObjectInfo | CommonPrefix],
    *,
    prefix: str = "",
    start_after: str = "",
    probe: Probe | None = None,
    hold: int = HOLD,
) -> Iterator[Listed]:
    """The logical entries of a store's listing (in stored order, already after
    `start_after`), in logical order, each key once, only keys after `start_after`;
    internal objects left out. `probe` looks a stored key up when `hold` entries wait."""
    order = _Reorder(prefix, start_after)
    for entry in stored:
        order.add(entry)
        yield from order.release()
        while probe is not None and order.waiting >= hold:
            candidate = order.candidate()
            if candidate is None:
                break
            order.resolve(candidate, probe(candidate))
            yield from order.release()
    yield from order.release(everything=True)


class _Reorder:
    """The heap of waiting entries and the position the store's listing has reached."""

    def __init__(self, prefix: str, start_after: str) -> None:
        self.prefix = prefix
        self.last = start_after  # nothing at or before this is shown (again)
        self.position: str | None = None  # the last stored key (or prefix) listed
        self.heap: list[str] = []
        self.entries: dict[str, ObjectInfo | CommonPrefix] = {}
        self.resolved: set[str] = set()  # `X.delta` keys looked up, still ahead

    @property
    def waiting(self) -> int:
        return len(self.heap)

    def add(self, entry: ObjectInfo | CommonPrefix) -> None:
        if isinstance(entry, CommonPrefix):
            self.position = key = entry.prefix
        else:
            self.position = entry.key
            found = logical_key(entry.key)
            if found is None:
                return
            key = found
        if self.resolved:
            self.resolved = {k for k in self.resolved if k > self.position}
        self._push(key, entry)

    def resolve(self, stored_key: str, found: ObjectInfo | None) -> None:
        """What a direct look-up of a candidate `X.delta` found."""
        self.resolved.add(stored_key)
        key = logical_key(stored_key)
        if found is not None and key is not None:
            self._push(key, found)

    def _push(self, key: str, entry: ObjectInfo | CommonPrefix) -> None:
        if key <= self.last or not key.startswith(self.prefix):  # `a.delta` under `a.d`
            return
        held = self.entries.get(key)
        if held is None:
            heapq.heappush(self.heap, key)
            self.entries[key] = entry
        elif _newer(entry, held):  # both stored forms of one key: the newer wins
            self.entries[key] = entry

    def release(self, *, everything: bool = False) -> Iterator[Listed]:
        mark = None if everything else self._mark()
        while self.heap and (mark is None or self.heap[0] < mark):
            key = heapq.heappop(self.heap)
            self.last = key
            yield Listed(key, self.entries.pop(key))

    def _mark(self) -> str:
        """The low-water mark: no logical key still to come sorts below it."""
        if self.position is None:
            return ""
        candidate = self.candidate()
        return self.position if candidate is None else candidate[: -len(DELTA_SUFFIX)]

    def candidate(self) -> str | None:
        """The smallest `X.delta` still to come that would show before the position."""
        position = self.position or ""
        for cut, char in enumerate(position):
            if char < "." or (char == "." and position[cut:] < DELTA_SUFFIX):
                stored = position[:cut] + DELTA_SUFFIX
                if self._possible(stored):
                    return stored
        return None

    def _possible(self, stored: str) -> bool:
        """Whether `X.delta` could still show a key not yet passed. (With a delimiter it
        is never rolled up: `X` is a listed key's start, and `.delta` holds no `/`.)"""
        key = logical_key(stored)
        return (
            key is not None
            and key.startswith(self.prefix)
            and key > self.last
            and stored not in self.resolved
        )


def _newer(entry: ObjectInfo | CommonPrefix, held: ObjectInfo | CommonPrefix) -> bool:
    if isinstance(entry, ObjectInfo) and isinstance(held, ObjectInfo):
        return entry.last_modified >= held.last_modified
    return False
