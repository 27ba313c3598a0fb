"""A client-side rate limit per API operation (``--max-rps``), shared by all threads.

A token bucket per operation, applied to every HTTP attempt (retries included) through
botocore's ``before-send`` event, so the reconciler never sends one operation faster than
the limit however many threads it runs. Installed by ``aws.client`` on every client it makes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class RateLimiter:
    """At most ``rate`` requests per second per operation, with bursts of up to ``burst``."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self.waited = 0.0

    def acquire(self, operation: str) -> None:
        """Block until ``operation`` may send one more request."""
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(operation, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate) - 1
            self._buckets[operation] = (tokens, now)
            delay = -tokens / self.rate if tokens < 0 else 0.0
            self.waited += delay
        if delay:
            self._sleep(delay)

    def install(self, client: Any) -> None:
        """Apply the limit to every request ``client`` sends."""

        def before_send(event_name: str, **_: Any) -> None:
            self.acquire(event_name.rsplit(".", 1)[-1])

        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-send.{service}", before_send)
