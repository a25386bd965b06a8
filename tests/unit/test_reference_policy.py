"""The reference policy: when a new version starts a new reference, and which reference
a delta is made against (DeltaService over in-memory storage and a pure-Python codec)."""

from __future__ import annotations

import random
from pathlib import Path

from deltaglider.adapters.memory import InMemoryStorage
from deltaglider.core.metadata import read_delta
from deltaglider.core.models import ObjectKey, StoredAs, is_reference_key
from deltaglider.core.policy import DeltaPolicy
from tests.fakes import make_service, put_file

SIZE = 20_000  # below the fake codec's 32 KiB dictionary: a delta's size tracks the change


def key(name: str) -> ObjectKey:
    return ObjectKey("bucket", name)


def variant(path: Path, base: bytes, changed: float, seed: int) -> Path:
    """`base` with a `changed` fraction of it (one run of bytes) replaced by noise."""
    rng = random.Random(seed)
    data = bytearray(base)
    run = int(len(data) * changed)
    start = rng.randrange(0, len(data) - run + 1)
    data[start : start + run] = rng.randbytes(run)
    path.write_bytes(bytes(data))
    return path


def references(storage: InMemoryStorage) -> list[str]:
    return sorted(k for k in storage.buckets["bucket"] if is_reference_key(k))


def ref_of(storage: InMemoryStorage, stored_key: str) -> str:
    return read_delta(storage.buckets["bucket"][stored_key].metadata, stored_key).ref_key


def check_all_rebuild(storage: InMemoryStorage, files: dict[str, Path], tmp_path: Path) -> None:
    reader, _, _ = make_service(storage)  # another process: nothing cached
    for name, path in files.items():
        out = tmp_path / "out" / name
        reader.get(key(name), out)
        assert out.read_bytes() == path.read_bytes(), name


def test_policy_starts_a_new_reference_on_an_unusable_or_drifted_delta() -> None:
    policy = DeltaPolicy(max_ratio=0.5)
    assert policy.starts_new_reference(0.6, None)
    assert not policy.starts_new_reference(0.4, None)  # no history: nothing to compare with
    # pays for itself within 3 versions: 3 x (0.4 - 0.05) >= 1 - 0.05
    assert policy.starts_new_reference(0.4, 0.05)
    assert not policy.starts_new_reference(0.3, 0.05)  # 3 x 0.25 < 0.95: would not pay
    assert not policy.starts_new_reference(0.45, 0.2)  # nor against a larger usual delta
    assert not policy.starts_new_reference(0.3, 0.001)
    first = DeltaPolicy(max_ratio=0.5, references="first")
    assert not first.starts_new_reference(0.9, 0.01)


def test_an_unrelated_version_becomes_a_new_reference_and_old_deltas_keep_theirs(
    tmp_path: Path,
) -> None:
    service, storage, _ = make_service()
    base = random.Random(1).randbytes(SIZE)
    files = {
        "r/app-1.bin": variant(tmp_path / "1", base, 0.0, 1),
        "r/app-2.bin": variant(tmp_path / "2", base, 0.02, 2),
        "r/app-3.bin": variant(tmp_path / "3", random.Random(9).randbytes(SIZE), 0.0, 3),
        "r/app-4.bin": tmp_path / "4",
    }
    variant(files["r/app-4.bin"], files["r/app-3.bin"].read_bytes(), 0.02, 4)

    results = [put_file(service, path, key(name)) for name, path in files.items()]

    assert [r.reason for r in results] == ["reference created", "delta", "new reference", "delta"]
    assert all(r.stored_as is StoredAs.DELTA for r in results)
    assert len(references(storage)) == 2
    first, second = (
        "r/reference.bin",
        next(k for k in references(storage) if k != "r/reference.bin"),
    )
    assert [ref_of(storage, f"{name}.delta") for name in files] == [first, first, second, second]
    assert results[3].stored_size < SIZE * 0.1  # against the new reference, not the first
    check_all_rebuild(storage, files, tmp_path)


def test_drift_that_would_pay_for_a_new_reference_starts_one(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    base = random.Random(1).randbytes(SIZE)
    names = [f"r/app-1.{v}.bin" for v in range(6)]
    changes = [0.0, 0.03, 0.04, 0.03, 0.45, 0.36]  # version 4 drifts; 5 follows it
    files = {}
    for index, (name, changed) in enumerate(zip(names, changes, strict=True)):
        source = base if index < 5 else files[names[4]].read_bytes()
        files[name] = variant(tmp_path / f"v{index}", source, changed if index < 5 else 0.01, 7)

    results = [put_file(service, path, key(name)) for name, path in files.items()]

    assert [r.reason for r in results] == [
        "reference created", "delta", "delta", "delta", "new reference", "delta",
    ]  # fmt: skip
    assert ref_of(storage, names[5] + ".delta") == ref_of(storage, names[4] + ".delta")
    check_all_rebuild(storage, files, tmp_path)


def test_a_moderate_delta_without_history_stays_a_delta(tmp_path: Path) -> None:
    service, _, _ = make_service()
    base = random.Random(1).randbytes(SIZE)
    put_file(service, variant(tmp_path / "a", base, 0.0, 1), key("r/a-1.bin"))
    result = put_file(service, variant(tmp_path / "b", base, 0.3, 2), key("r/a-2.bin"))
    assert result.reason == "delta"


def test_each_product_in_a_shared_prefix_deltas_against_its_own_reference(
    tmp_path: Path,
) -> None:
    service, storage, _ = make_service()
    app, lib = random.Random(1).randbytes(SIZE), random.Random(2).randbytes(SIZE)
    files = {}
    for version in range(3):
        for product, base in (("app", app), ("lib", lib)):
            name = f"r/{product}-1.{version}.bin"
            files[name] = variant(tmp_path / name.replace("/", "_"), base, 0.02, version)

    results = {name: put_file(service, path, key(name)) for name, path in files.items()}

    assert len(references(storage)) == 2  # app's and lib's, not one per upload
    for name, result in results.items():
        if not name.endswith("1.0.bin"):
            assert result.reason == "delta", name
            assert result.stored_size < SIZE * 0.1, name
    app_ref = ref_of(storage, "r/app-1.0.bin.delta")
    assert {ref_of(storage, f"r/app-1.{v}.bin.delta") for v in range(3)} == {app_ref}
    assert app_ref not in {ref_of(storage, f"r/lib-1.{v}.bin.delta") for v in range(3)}
    check_all_rebuild(storage, files, tmp_path)


def test_a_new_process_finds_the_newest_reference(tmp_path: Path) -> None:
    service, storage, _ = make_service()
    first = random.Random(1).randbytes(SIZE)
    put_file(service, variant(tmp_path / "1", first, 0.0, 1), key("r/app-1.bin"))
    second = variant(tmp_path / "2", random.Random(2).randbytes(SIZE), 0.0, 2)
    put_file(service, second, key("r/app-2.bin"))

    later, _, _ = make_service(storage)
    result = put_file(
        later, variant(tmp_path / "3", second.read_bytes(), 0.02, 3), key("r/app-3.bin")
    )

    assert result.reason == "delta"
    assert ref_of(storage, "r/app-3.bin.delta") == ref_of(storage, "r/app-2.bin.delta")
