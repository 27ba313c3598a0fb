"""The per-resource backoff: a table of its schedule and a property of its bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.backoff import Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("failures", "rand", "delay"),
    [
        (1, 0.0, 5.0),
        (1, 1.0, 10.0),
        (2, 0.0, 10.0),
        (2, 0.5, 15.0),
        (3, 1.0, 40.0),
        (7, 0.0, 300.0),  # 10 * 2^6 = 640, capped at 600
        (7, 1.0, 600.0),
        (30, 0.5, 450.0),
        (1025, 0.0, 300.0),  # days of failures: 2.0 ** 1024 would overflow
        (3000, 1.0, 600.0),
    ],
)
def test_schedule(failures: int, rand: float, delay: float) -> None:
    clock = Clock()
    backoff = Backoff(clock, base=10.0, cap=600.0, rand=lambda: rand)
    for _ in range(failures - 1):
        backoff.failed("m")
    assert backoff.failed("m") == pytest.approx(delay)
    assert not backoff.ready("m")
    clock.now += delay - 1e-6
    assert not backoff.ready("m") and backoff.take_due() == []
    clock.now += 1e-6
    assert backoff.ready("m")
    assert backoff.take_due() == ["m"]
    assert backoff.take_due() == []  # each due name is given once


def test_success_forgets_and_others_are_independent() -> None:
    clock = Clock()
    backoff = Backoff(clock, base=10.0, cap=600.0, rand=lambda: 0.0)
    backoff.failed("a")
    backoff.failed("a")
    assert backoff.ready("b")
    backoff.succeeded("a")
    assert backoff.ready("a") and backoff.waiting() == []
    assert backoff.failed("a") == 5.0  # counting starts again
    backoff.succeeded("never-failed")  # nothing to forget is fine


def test_waiting_lists_only_the_names_held_back_in_name_order() -> None:
    clock = Clock()
    backoff = Backoff(clock, base=10.0, cap=600.0, rand=lambda: 0.0)
    backoff.failed("c")  # 5 s
    backoff.failed("a")  # 5 s
    backoff.failed("b")
    backoff.failed("b")  # 10 s
    assert backoff.waiting() == ["a", "b", "c"]
    clock.now = 5.0
    assert backoff.waiting() == ["b"]
    clock.now = 10.0
    assert backoff.waiting() == []


@given(
    st.integers(1, 1100),
    st.floats(0, 1),
    st.floats(0.1, 100),
    st.floats(1, 10_000),
)
def test_every_delay_is_within_half_and_all_of_its_ceiling(
    failures: int, rand: float, base: float, cap: float
) -> None:
    backoff = Backoff(Clock(), base=base, cap=cap, rand=lambda: rand)
    delays = [backoff.failed("m") for _ in range(failures)]
    for k, delay in enumerate(delays, start=1):
        # base * 2**60 is past any cap here; the exponent stays small so the test's own
        # arithmetic cannot overflow after 1,024 failures.
        ceiling = min(cap, base * 2.0 ** min(k - 1, 60))
        assert ceiling / 2 <= delay <= ceiling
