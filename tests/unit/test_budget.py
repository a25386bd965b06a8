"""The memory budget of parallel transfers (core/budget.py): never over, never stuck on a
transfer larger than the budget, and whatever was reserved comes back on a failure or
Ctrl-C, also through the CLI's batch runner."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest

from deltaglider.app.cli.transfers import OutputMode, Reporter, Task
from deltaglider.app.settings import Settings
from deltaglider.core.budget import (
    CONTAINER,
    MIB,
    RAW_DELTA,
    STREAMED,
    MemoryBudget,
    estimate,
)
from deltaglider.core.errors import ConfigError
from deltaglider.core.policy import DeltaPolicy

JOIN = 10.0  # seconds: far more than any of these takes; a thread still alive is stuck


class Ledger:
    """What the holders of a budget hold, seen from inside their blocks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.most = 0
        self.alone: list[bool] = []

    def enter(self, amount: int) -> None:
        with self.lock:
            self.inside += amount
            self.most = max(self.most, self.inside)

    def leave(self, amount: int) -> None:
        with self.lock:
            self.inside -= amount


def run_all(workers: list[threading.Thread]) -> None:
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(JOIN)
    assert not any(worker.is_alive() for worker in workers), "a reservation never came"


def test_what_runs_together_never_exceeds_the_budget() -> None:
    budget, ledger = MemoryBudget(100), Ledger()
    amounts = [random.Random(7).randint(1, 60) for _ in range(40)]

    def work(amount: int) -> None:
        with budget.reserved(amount) as taken:
            ledger.enter(taken)
            time.sleep(0.002)
            ledger.leave(taken)

    run_all([threading.Thread(target=work, args=(a,)) for a in amounts])
    assert 60 <= ledger.most <= 100  # several ran side by side, never over
    assert budget.peak <= 100
    assert budget.held == 0


def test_a_transfer_larger_than_the_budget_runs_alone_and_is_not_starved() -> None:
    budget, ledger = MemoryBudget(100), Ledger()
    big_inside: list[int] = []

    def small() -> None:
        with budget.reserved(30) as taken:
            ledger.enter(taken)
            time.sleep(0.005)
            ledger.leave(taken)

    def big() -> None:
        with budget.reserved(10_000) as taken:
            ledger.enter(taken)
            big_inside.append(ledger.inside)
            time.sleep(0.005)
            ledger.leave(taken)

    workers = [threading.Thread(target=small) for _ in range(10)]
    workers.insert(3, threading.Thread(target=big))
    run_all(workers)
    assert big_inside == [100]  # it took the whole budget, and nothing ran beside it
    assert budget.held == 0


def test_a_failing_transfer_gives_back_what_it_reserved() -> None:
    budget = MemoryBudget(100)
    with pytest.raises(OSError, match="disk full"), budget.reserved(80):
        raise OSError("disk full")
    assert budget.held == 0
    with budget.reserved(100) as taken:  # the whole budget is free again
        assert taken == 100


def test_ctrl_c_while_waiting_leaves_nothing_reserved_and_the_queue_moving() -> None:
    budget = MemoryBudget(100)
    stop = threading.Event()
    stopped: list[type[BaseException]] = []

    def check() -> None:
        if stop.is_set():
            raise KeyboardInterrupt

    def waiter() -> None:
        try:
            with budget.reserved(60, check):
                raise AssertionError("reserved while the budget was full")
        except KeyboardInterrupt:
            stopped.append(KeyboardInterrupt)

    holder = budget.reserved(100)
    holder.__enter__()
    waiting = threading.Thread(target=waiter)
    waiting.start()
    time.sleep(0.05)  # it waits behind the holder
    stop.set()
    waiting.join(JOIN)
    assert stopped == [KeyboardInterrupt]
    holder.__exit__(None, None, None)
    assert budget.held == 0
    served: list[int] = []

    def later() -> None:
        with budget.reserved(60) as taken:
            served.append(taken)

    run_all([threading.Thread(target=later)])  # the stopped waiter's turn was passed on
    assert served == [60]


def test_the_batch_runner_reserves_each_tasks_peak() -> None:
    budget, ledger = MemoryBudget(100), Ledger()

    def transfer(peak: int, fails: bool) -> Callable[[], None]:
        def run() -> None:
            ledger.enter(peak)
            time.sleep(0.002)
            ledger.leave(peak)
            if fails:
                raise OSError("the network went away")

        return run

    tasks = [
        Task("download", f"s3://b/{n}", 1, transfer(peak, n % 5 == 0), peak=peak)
        for n, peak in enumerate([40, 70, 150, 10, 30, 90, 20, 60] * 3)
    ]
    reporter = Reporter(OutputMode(quiet=True, progress=False), budget=budget)
    assert reporter.run([tasks]) == 1  # some failed
    assert reporter.failures == 5
    assert ledger.most <= 150  # the 150 ran alone; all others together within 100
    assert budget.peak <= 100
    assert budget.held == 0


def test_estimates_by_what_a_transfer_does() -> None:
    policy = DeltaPolicy()
    size = 100 * MIB
    assert estimate(policy, "notes.txt", size) == STREAMED  # stored whole: streamed
    assert estimate(policy, "disk.img", size) == STREAMED + RAW_DELTA * size
    assert estimate(policy, "pkg-1.0.tar.gz", size) == STREAMED + CONTAINER * size
    assert estimate(DeltaPolicy(), "app.whl", 10) == STREAMED  # too small to be a delta
    # a large file gets a segmented delta, whose memory does not follow its size
    large = estimate(policy, "disk.img", 4096 * MIB)
    assert large == estimate(policy, "disk.img", 20 * 1024 * MIB)
    assert STREAMED < large < STREAMED + RAW_DELTA * 128 * MIB


def test_the_budget_setting() -> None:
    assert Settings.load({}).max_memory_bytes == 1024 * MIB
    assert Settings.load({"DG_MAX_MEMORY_MB": "256"}).max_memory_bytes == 256 * MIB
    for wrong in ("0", "lots", "-5"):
        with pytest.raises(ConfigError, match="DG_MAX_MEMORY_MB"):
            Settings.load({"DG_MAX_MEMORY_MB": wrong})
