"""Per-model failure backoff for the watch loop: exponential, jittered, capped.

A model whose action keeps failing (a Failed import, a model in use) is retried later and
later, so it neither blocks the others nor hammers the API. The clock and the random source
are injected. Called by ``watch``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_BASE_SECONDS = 10.0
DEFAULT_CAP_SECONDS = 600.0
# 2.0 ** 1024 overflows a float: a resource failing for days must still back off at the cap.
_MAX_EXPONENT = 1023


@dataclass
class Backoff:
    """When each failing model may be tried again."""

    now: Callable[[], float]
    base: float = DEFAULT_BASE_SECONDS
    cap: float = DEFAULT_CAP_SECONDS
    rand: Callable[[], float] = random.random
    _failures: dict[str, int] = field(default_factory=dict)
    _not_before: dict[str, float] = field(default_factory=dict)

    def ready(self, name: str) -> bool:
        """Whether ``name`` may be acted on now."""
        return self.now() >= self._not_before.get(name, 0.0)

    def failed(self, name: str) -> float:
        """Record a failure; return the delay before the next attempt."""
        count = self._failures.get(name, 0) + 1
        self._failures[name] = count
        ceiling = min(self.cap, self.base * 2.0 ** min(count - 1, _MAX_EXPONENT))
        # "Equal jitter": at least half the ceiling, so retries never bunch up near zero.
        delay = ceiling / 2 + self.rand() * ceiling / 2
        self._not_before[name] = self.now() + delay
        return delay

    def succeeded(self, name: str) -> None:
        """Forget past failures of ``name``."""
        self._failures.pop(name, None)
        self._not_before.pop(name, None)

    def take_due(self) -> list[str]:
        """Names whose wait just ended (each is returned once), so a pass can retry them."""
        now = self.now()
        due = sorted(n for n, t in self._not_before.items() if now >= t)
        for name in due:
            del self._not_before[name]
        return due

    def waiting(self) -> list[str]:
        """Names currently held back, in name order."""
        return sorted(n for n in self._not_before if not self.ready(n))
