"""The per-operation rate limit, with a fake clock, and installed on a real client."""

from __future__ import annotations

import time
from typing import Any

from reconciler.aws.ratelimit import RateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_bursts_then_paces_at_the_rate() -> None:
    fake = FakeTime()
    limiter = RateLimiter(rate=10, burst=2, clock=lambda: fake.now, sleep=fake.sleep)
    for _ in range(12):
        limiter.acquire("ListTagsForResource")
    # Two free in the burst, then ten more at 10 per second.
    assert abs(fake.now - 1.0) < 1e-9


def test_operations_have_separate_buckets() -> None:
    fake = FakeTime()
    limiter = RateLimiter(rate=1, burst=1, clock=lambda: fake.now, sleep=fake.sleep)
    limiter.acquire("CreateCustomModel")
    limiter.acquire("ListTagsForResource")
    assert fake.now == 0.0
    limiter.acquire("CreateCustomModel")
    assert fake.now == 1.0


def test_installed_on_a_client_it_paces_real_calls(emulator: Any) -> None:
    client = emulator.client()
    limiter = RateLimiter(rate=20, burst=1)
    limiter.install(client)
    started = time.monotonic()
    for _ in range(6):
        client.list_custom_models()
    elapsed = time.monotonic() - started
    assert elapsed >= 5 / 20 * 0.9
    assert limiter.waited > 0
