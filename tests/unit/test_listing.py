"""Stored order to logical order (core/listing.py), on plain lists and the in-memory store."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from deltaglider.adapters.memory import InMemoryStorage, StoredObject
from deltaglider.core.listing import Listed, logical_order
from deltaglider.ports import CommonPrefix, ObjectInfo

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ALPHABET = [".", "-", "!", "/", "d", "e", "l", "t", "a", "中"]


def stored(*keys: str) -> list[ObjectInfo]:
    """A store's listing of these keys: UTF-8 byte order."""
    return [ObjectInfo(k, 0, T0) for k in sorted(keys, key=str.encode)]


def keys(listed: Iterable[Listed]) -> list[str]:
    return [item.key for item in listed]


def by_bytes(values: Iterable[str]) -> list[str]:
    return sorted(values, key=str.encode)


def test_a_delta_comes_before_the_keys_its_name_starts() -> None:
    listing = stored("rel/app.zip-notes.txt", "rel/app.zip.delta")
    assert keys(logical_order(listing)) == ["rel/app.zip", "rel/app.zip-notes.txt"]


ADVERSARIAL = [
    "a.zip",
    "a.zip-x",
    "a.zip.d",
    "a.zip.dat",
    "a.zip.delta.txt",
    "a.zip!",
    "a.zip a",  # a space: below "."
    "a.zip#1",
    "a.zip\x01",
    "a",
    "a-1.0.zip",
    "a.",
    "a.zip.",
    "a.zip/x",
    "a.zip/y.delta",
    "a.zip-x/b.zip",
    "a.zip.delta",  # a file named so is stored as a.zip.delta.delta
    "包/发布-1.0.zip",
    "包/发布.zip",
    "包.zip",
    "z",
]


def forms(logical: Iterable[str], rng: random.Random) -> dict[str, ObjectInfo]:
    """Each logical key stored as itself, as `.delta`, or (after a crash) both; a name
    ending in `.delta` only as a delta, as the format's rule 2 says. Returns the store's
    objects by stored key; the form written last is the newer."""
    objects: dict[str, ObjectInfo] = {}
    for index, key in enumerate(logical):
        choice = "delta" if key.endswith(".delta") else rng.choice(["direct", "delta", "both"])
        when = T0 + timedelta(seconds=index)
        if choice in ("direct", "both"):
            objects[key] = ObjectInfo(key, 1, when)
        if choice in ("delta", "both"):
            later = when + timedelta(milliseconds=rng.choice([-1, 0, 1]))
            objects[key + ".delta"] = ObjectInfo(key + ".delta", 2, later)
    return objects


def expected_entries(objects: dict[str, ObjectInfo]) -> dict[str, str]:
    """Logical key -> the stored key that should show for it (the newer form; a tie
    goes to the delta)."""
    chosen: dict[str, ObjectInfo] = {}
    for stored_key in sorted(objects):
        info = objects[stored_key]
        key = stored_key.removesuffix(".delta")
        held = chosen.get(key)
        if held is None or info.last_modified >= held.last_modified:
            chosen[key] = info
    return {key: info.key for key, info in chosen.items()}


@pytest.mark.parametrize("seed", range(20))
def test_adversarial_names_come_in_logical_order(seed: int) -> None:
    objects = forms(ADVERSARIAL, random.Random(seed))
    listing = sorted(objects.values(), key=lambda info: info.key.encode())
    listed = list(logical_order(listing))
    assert keys(listed) == by_bytes(ADVERSARIAL)
    assert {item.key: item.entry.key for item in listed} == expected_entries(objects)  # type: ignore[union-attr]


def test_a_key_stored_in_both_forms_shows_once_the_newer() -> None:
    old, new = T0, T0 + timedelta(seconds=1)
    for direct_time, delta_time, winner in [(old, new, "k.zip.delta"), (new, old, "k.zip")]:
        listing = [ObjectInfo("k.zip", 1, direct_time), ObjectInfo("k.zip.delta", 2, delta_time)]
        [item] = logical_order(listing)
        assert (item.key, item.entry.key) == ("k.zip", winner)  # type: ignore[union-attr]


def test_internal_objects_are_hidden() -> None:
    listing = stored(
        "p/.dg-index.json", "p/reference.bin", "p/a.zip.delta", "p/reference.bin.delta"
    )
    assert keys(logical_order(listing)) == ["p/a.zip", "p/reference.bin"]


def test_start_after_is_a_logical_key() -> None:
    listing = stored("r/a.zip-notes.txt", "r/a.zip.delta", "r/b.zip.delta")
    full = ["r/a.zip", "r/a.zip-notes.txt", "r/b.zip"]
    for cut in range(len(full)):
        after = full[cut]
        # What the store lists after `after` (the service asks it for exactly that).
        rest = [e for e in listing if e.key > after]
        assert keys(logical_order(rest, start_after=after)) == full[cut + 1 :]


def in_memory(objects: dict[str, ObjectInfo]) -> InMemoryStorage:
    storage = InMemoryStorage()
    storage.create_bucket("bkt")
    for key, info in objects.items():
        storage.buckets["bkt"][key] = StoredObject(b"x" * info.size, {}, info.last_modified)
    return storage


def counted(
    entries: Iterable[ObjectInfo | CommonPrefix], seen: list[int]
) -> Iterator[ObjectInfo | CommonPrefix]:
    for entry in entries:
        seen[0] += 1
        yield entry


def expected_view(objects: dict[str, ObjectInfo], prefix: str, delimiter: str | None) -> list[str]:
    """The logical view computed the slow way: every logical key (or its folder, rolled
    up at the delimiter), sorted."""
    view = set()
    for stored_key in objects:
        key = stored_key.removesuffix(".delta")
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if delimiter and delimiter in rest:
            key = prefix + rest[: rest.index(delimiter) + 1]
        view.add(key)
    return by_bytes(view)


def random_keys(rng: random.Random) -> list[str]:
    count = rng.randint(1, 30)
    return list({"".join(rng.choices(ALPHABET, k=rng.randint(1, 6))) for _ in range(count)})


@pytest.mark.parametrize("seed", range(300))
def test_random_key_sets_list_completely_in_order_for_every_start_after(seed: int) -> None:
    rng = random.Random(seed)
    objects = forms(random_keys(rng), rng)
    storage = in_memory(objects)
    chosen = expected_entries(objects)
    some = rng.choice(sorted(objects))
    prefix = rng.choice(["", "", "a.d", some[: rng.randint(1, 3)]])
    delimiter = rng.choice([None, "/"])
    hold = rng.choice([1, 2, 3, 10_000])
    view = expected_view(objects, prefix, delimiter)
    alphabet_walk = ["", *by_bytes({k[:n] for k in objects for n in range(len(k) + 1)})]
    for after in [*view, *alphabet_walk]:
        listing = storage.list("bkt", prefix, delimiter, start_after=after)
        probes: list[str] = []

        def probe(key: str, probes: list[str] = probes) -> ObjectInfo | None:
            probes.append(key)
            return storage.head("bkt", key)

        listed = list(
            logical_order(
                listing,
                prefix=prefix,
                start_after=after,
                probe=probe,
                hold=hold,
            )
        )
        assert keys(listed) == [k for k in view if k > after], (prefix, delimiter, after)
        for item in listed:
            if isinstance(item.entry, ObjectInfo):
                assert item.entry.key == chosen[item.key]
            else:
                assert item.entry.prefix == item.key
        assert len(set(probes)) == len(probes)  # no key is looked up twice


def test_waiting_is_bounded_with_look_ups() -> None:
    """`app-1.0.zip` .. `app-1.999.zip`: each could be overtaken by `app.delta` or
    `app-1.delta` (`-` and `.` sort below `.delta`); with look-ups the first entries
    come out after a few stored keys, not after the whole folder."""
    names = [f"rel/app-1.{n}.zip" for n in range(1000)]
    objects = {f"{n}.delta": ObjectInfo(f"{n}.delta", 1, T0) for n in names}
    storage = in_memory(objects)
    seen = [0]
    probes: list[str] = []

    def probe(key: str) -> ObjectInfo | None:
        probes.append(key)
        return storage.head("bkt", key)

    listing = logical_order(
        counted(storage.list("bkt", "rel/"), seen), prefix="rel/", probe=probe, hold=5
    )
    first = [next(listing).key for _ in range(3)]
    assert first == by_bytes(names)[:3]
    assert seen[0] <= 10
    assert probes[:2] == ["rel/app.delta", "rel/app-1.delta"]
    rest = [item.key for item in listing]
    assert first + rest == by_bytes(names)
    assert len(probes) < 30  # a look-up per nested candidate, not per object

    seen[0] = 0
    without = logical_order(counted(storage.list("bkt", "rel/"), seen), prefix="rel/")
    next(without)
    assert seen[0] == 1000  # without look-ups, every entry waits for a possible app.delta


def test_entries_go_out_as_soon_as_nothing_can_overtake_them() -> None:
    seen = [0]
    listing = logical_order(counted(stored("a.delta", "b.delta", "c"), seen))
    assert next(listing).key == "a"
    assert seen[0] == 1  # `b.delta`, `c` were not needed to know nothing comes before `a`


def test_a_delta_outside_the_prefix_by_its_logical_key_is_left_out() -> None:
    # Under the prefix `a.d` the store lists `a.delta`, which is the logical key `a`.
    assert keys(logical_order(stored("a.d", "a.delta", "a.dx.delta"), prefix="a.d")) == [
        "a.d",
        "a.dx",
    ]


@pytest.mark.parametrize(
    ("prefix", "start_after"),
    [("rel/app-1.", ""), ("rel/", "rel/app-1.5.zip")],
    ids=["prefix", "start-after"],
)
def test_candidates_that_cannot_show_hold_nothing_back(prefix: str, start_after: str) -> None:
    """`rel/app.delta` and `rel/app-1.delta` would show `rel/app` and `rel/app-1`, which
    are outside the prefix `rel/app-1.`, or at or before `start_after`: nothing waits for
    them, with no look-ups at all."""
    names = [f"rel/app-1.{n}.zip" for n in range(100)]
    storage = in_memory({f"{n}.delta": ObjectInfo(f"{n}.delta", 1, T0) for n in names})
    seen = [0]
    listing = counted(storage.list("bkt", prefix, start_after=start_after), seen)
    ordered = logical_order(listing, prefix=prefix, start_after=start_after)
    first = next(ordered).key
    assert first == next(n for n in by_bytes(names) if n > start_after)
    assert seen[0] <= 2
