"""Readiness that does not flap: one backend error in a row is not "not ready"."""

from __future__ import annotations

from deltaglider.app.gateway.health import Readiness


def test_readiness_does_not_flap_on_one_backend_error() -> None:
    clock = [0.0]
    answers = iter([None, OSError("refused"), None, OSError("a"), OSError("b"), OSError("c")])

    def probe() -> None:
        answer = next(answers)
        if answer is not None:
            raise answer

    readiness = Readiness(probe, now=lambda: clock[0], every=5, failures=3)
    seen = []
    for _ in range(6):
        seen.append(readiness.ready())
        assert readiness.ready() == seen[-1]  # asked again at once: the backend is not
        clock[0] += 5
    assert seen == [True, True, True, True, True, False]
    assert readiness.last_error == "OSError: c"
