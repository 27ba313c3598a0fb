"""Client-side latency and counters for a boto3 Bedrock client.

``Probe.attach(client)`` registers botocore event handlers: ``before-send`` sleeps for the
injected latency (in the calling thread, so concurrency stays real) and counts the request
as in flight; ``needs-retry`` (emitted once per HTTP attempt, retries included) ends it.
API calls are counted with the package's own ``instrument``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any


class Probe:
    """Per-call latency, calls by operation and peak in-flight requests of one or more clients."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.calls: Counter[str] = Counter()
        self.throttles: Counter[str] = Counter()

    def attach(self, client: Any) -> Any:
        """Add the latency and the counters to ``client``; returns it."""
        from reconciler.aws.client import instrument

        # Last: a rate limiter's wait (also a before-send handler) happens before the request
        # counts as in flight and before its network latency.
        client.meta.events.register_last("before-send.bedrock", self._before_send)
        client.meta.events.register("needs-retry.bedrock", self._after_attempt)
        instrument(client, self._count, self._throttled)
        return client

    def reset(self) -> None:
        with self._lock:
            self.in_flight = 0
            self.peak = 0
            self.calls.clear()
            self.throttles.clear()

    def _before_send(self, **_: Any) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        if self.latency > 0:
            time.sleep(self.latency)
        # None: botocore sends the request itself.

    def _after_attempt(self, **_: Any) -> None:
        with self._lock:
            self.in_flight -= 1

    def _count(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] += 1

    def _throttled(self, operation: str) -> None:
        with self._lock:
            self.throttles[operation] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(sorted(self.calls.items())),
                "throttles": dict(sorted(self.throttles.items())),
                "peak_concurrency": self.peak,
            }
