"""Content forms made or rebuilt side by side stay within a memory estimate: one that
would go past it waits for another to finish; one alone runs however large it is."""

from __future__ import annotations

import threading

from deltaglider.core.encoding import _MemoryGate


def test_work_past_the_limit_waits_for_other_work_to_finish() -> None:
    gate = _MemoryGate(100)
    started = threading.Event()
    order: list[str] = []

    def second() -> None:
        started.set()
        with gate.holding(60):
            order.append("second")

    with gate.holding(60):
        worker = threading.Thread(target=second)
        worker.start()
        started.wait()
        worker.join(timeout=0.2)
        assert worker.is_alive()  # 60 + 60 > 100: it waits
        order.append("first")
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert order == ["first", "second"]
    assert gate.used == 0


def test_small_work_runs_side_by_side_and_large_work_runs_alone() -> None:
    gate = _MemoryGate(100)
    with gate.holding(40), gate.holding(40):
        assert gate.used == 80
    with gate.holding(500):  # larger than the limit: it runs, alone
        assert gate.used == 500
    assert gate.used == 0
