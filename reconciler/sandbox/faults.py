"""Fault injection for the emulator: latency, throttling, server errors, a per-operation
request-rate quota and dropped connections, deterministic with a seed.

A ``Faults`` object is the configuration and its state (the seeded random generator, the
quota's token buckets, the log of requests). Set it on a backend (``backend.faults =
Faults(throttle_rate=0.3, seed=1)``) or, for ``--sandbox``, through the environment:
``RECONCILER_SANDBOX_FAULTS='{"throttle_rate": 0.3, "seed": 1}'``. Every request of an
operation it applies to draws one number from ``random.Random(seed)``, so a given sequence
of requests always meets the same faults (with concurrent clients, the order in which
requests arrive decides which one meets which fault). The quota is a token bucket per
operation, so it depends on time, as AWS's does.

Kinds of fault, as counted in ``backend.faults_injected``:

- ``latency``: the request is answered ``latency`` seconds late;
- ``quota``: over the per-operation rate, ``ThrottlingException`` (HTTP 429);
- ``throttle``: ``ThrottlingException`` (HTTP 429) at ``throttle_rate``;
- ``error``: ``InternalServerException`` (HTTP 500) at ``error_rate``;
- ``drop``: the connection is closed without an answer and the request is not processed;
- ``lost_response``: the request is processed, then the connection is closed without an
  answer (the client cannot tell whether its call took effect).

GetResources meets the same faults, with the tagging API's own codes: ``ThrottledException``
(HTTP 400, which botocore retries as throttling) and ``InternalServiceException`` (HTTP 500).

The wire side (``wire.call_action``) applies the verdict: over HTTP a dropped connection is
a socket shut down under the server's feet; in process (``--sandbox``) it is botocore's own
``ConnectionClosedError``. Either way botocore sees a connection error.
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.sandbox.errors import (
    BedrockError,
    InternalServerException,
    SandboxError,
    ThrottlingException,
)

ENV_FAULTS = "RECONCILER_SANDBOX_FAULTS"
LATENCY = "latency"
QUOTA = "quota"
THROTTLE = "throttle"
ERROR = "error"
DROP = "drop"
LOST_RESPONSE = "lost_response"
KINDS = (LATENCY, QUOTA, THROTTLE, ERROR, DROP, LOST_RESPONSE)
# Outcomes in the request log besides the fault kinds.
ANSWERED = "answered"
HISTORY_LIMIT = 100_000

_RATES = ("drop_rate", "throttle_rate", "error_rate", "lost_response_rate")
_SETTINGS = frozenset(
    {"latency", "quota_rps", "quota_burst", "operations", "seed", *_RATES},
)


@dataclass(frozen=True)
class Request:
    """One request a ``Faults`` saw: when (monotonic seconds), which operation, its outcome."""

    time: float
    operation: str
    outcome: str


@dataclass(frozen=True)
class Verdict:
    """What happens to one request: a delay, then an error, a drop, or a normal answer."""

    latency: float = 0.0
    kind: str | None = None
    error: BedrockError | None = None

    @property
    def drops_before(self) -> bool:
        return self.kind == DROP

    @property
    def drops_after(self) -> bool:
        return self.kind == LOST_RESPONSE


@dataclass(eq=False)
class Faults:
    """Fault-injection settings and state for one emulated backend.

    ``operations`` limits every fault to those API operations (for example
    ``{"CreateCustomModel"}``); ``None`` means every operation. Rates are probabilities per
    request; their sum must not exceed 1. ``quota_rps`` is a per-operation requests-per-second
    quota with bursts of ``quota_burst`` requests (default: one second's worth).
    """

    latency: float = 0.0
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    lost_response_rate: float = 0.0
    quota_rps: float | None = None
    quota_burst: float | None = None
    operations: frozenset[str] | None = None
    seed: int = 0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        if self.operations is not None:
            self.operations = frozenset(self.operations)
        _check_seconds("latency", self.latency)
        for name in _RATES:
            _check_rate(name, getattr(self, name))
        if sum(getattr(self, name) for name in _RATES) > 1:
            raise SandboxError(f"fault rates ({', '.join(_RATES)}) must add up to at most 1")
        if self.quota_rps is not None:
            _check_positive("quota_rps", self.quota_rps)
        if self.quota_burst is not None:
            _check_positive("quota_burst", self.quota_burst)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise SandboxError(f"seed must be a whole number, got {self.seed!r}")
        self._lock = threading.Lock()
        self._random = random.Random(self.seed)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._history: deque[Request] = deque(maxlen=HISTORY_LIMIT)
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._cancelled = threading.Event()

    @classmethod
    def from_json(cls, text: str) -> Faults:
        """Settings from a JSON object such as ``{"throttle_rate": 0.3, "seed": 1}``."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SandboxError(f"fault settings are not valid JSON: {e}") from e
        if not isinstance(data, dict):
            raise SandboxError("fault settings must be a JSON object")
        unknown = sorted(set(data) - _SETTINGS)
        if unknown:
            known = ", ".join(sorted(_SETTINGS))
            raise SandboxError(f"unknown fault setting(s) {', '.join(unknown)}; known: {known}")
        operations = data.get("operations")
        if operations is not None:
            if not isinstance(operations, list) or not all(isinstance(o, str) for o in operations):
                raise SandboxError("operations must be a list of API operation names")
            data["operations"] = frozenset(operations)
        return cls(**data)

    @property
    def bursts(self) -> float:
        """How many requests the quota lets through at once."""
        if self.quota_burst is not None:
            return self.quota_burst
        return max(1.0, self.quota_rps or 1.0)

    def applies_to(self, operation: str) -> bool:
        return self.operations is None or operation in self.operations

    def judge(self, operation: str) -> Verdict:
        """Decide the fate of one request of ``operation`` (and log it)."""
        if not self.applies_to(operation):
            return Verdict()
        with self._lock:
            now = self.clock()
            kind = QUOTA if not self._take_token(operation, now) else self._draw()
            self._history.append(Request(now, operation, kind or ANSWERED))
        latency = 0.0 if self._cancelled.is_set() else self.latency
        return Verdict(latency, kind, _error_for(kind, operation, self.quota_rps))

    def _take_token(self, operation: str, now: float) -> bool:
        if self.quota_rps is None:
            return True
        tokens, last = self._buckets.get(operation, (self.bursts, now))
        tokens = min(self.bursts, tokens + (now - last) * self.quota_rps)
        if tokens < 1:
            self._buckets[operation] = (tokens, now)
            return False
        self._buckets[operation] = (tokens - 1, now)
        return True

    def _draw(self) -> str | None:
        # One draw per request, whatever the rates, so the sequence depends only on the seed.
        draw = self._random.random()
        for kind, rate in (
            (DROP, self.drop_rate),
            (THROTTLE, self.throttle_rate),
            (ERROR, self.error_rate),
            (LOST_RESPONSE, self.lost_response_rate),
        ):
            if draw < rate:
                return kind
            draw -= rate
        return None

    # Requests in flight, for tests that must wait until the server is idle.

    def begin(self, verdict: Verdict) -> None:
        """A request judged ``verdict`` starts; sleep its latency (cut short by ``cancel``)."""
        with self._lock:
            self._in_flight += 1
        if verdict.latency > 0:
            self._cancelled.wait(verdict.latency)

    def end(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight; False if some still are after ``timeout``."""
        with self._lock:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def cancel(self) -> None:
        """Stop delaying: requests sleeping their latency go on at once, new ones are not
        delayed (the other faults still apply)."""
        self._cancelled.set()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    # The request log.

    def history(self, operations: Iterable[str] | None = None) -> list[Request]:
        """Every request judged (the last HISTORY_LIMIT), optionally of some operations only."""
        wanted = None if operations is None else set(operations)
        with self._lock:
            return [r for r in self._history if wanted is None or r.operation in wanted]

    def peak_rate(self, operation: str, window: float = 1.0) -> int:
        """The most requests of ``operation`` the server saw within any ``window`` seconds."""
        times = [r.time for r in self.history([operation])]
        peak = start = 0
        for end, moment in enumerate(times):
            while moment - times[start] > window:
                start += 1
            peak = max(peak, end - start + 1)
        return peak


def faults_from_env(environ: Mapping[str, str] | None = None) -> Faults | None:
    """The faults configured in ``RECONCILER_SANDBOX_FAULTS``, or None when it is unset."""
    raw = (os.environ if environ is None else environ).get(ENV_FAULTS, "").strip()
    if not raw:
        return None
    try:
        return Faults.from_json(raw)
    except SandboxError as e:
        raise SandboxError(f"{ENV_FAULTS}: {e}") from e


def _error_for(kind: str | None, operation: str, quota: float | None) -> BedrockError | None:
    if kind == QUOTA:
        return ThrottlingException(
            f"Rate exceeded: {operation} is limited to {quota:g} requests per second."
        )
    if kind == THROTTLE:
        return ThrottlingException(f"Too many requests for {operation} (injected fault).")
    if kind == ERROR:
        return InternalServerException(f"Internal error in {operation} (injected fault).")
    return None


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SandboxError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _check_seconds(name: str, value: Any) -> None:
    if _number(name, value) < 0:
        raise SandboxError(f"{name} must be a number of seconds >= 0, got {value!r}")


def _check_rate(name: str, value: Any) -> None:
    if not 0 <= _number(name, value) <= 1:
        raise SandboxError(f"{name} must be between 0 and 1, got {value!r}")


def _check_positive(name: str, value: Any) -> None:
    if not _number(name, value) > 0:
        raise SandboxError(f"{name} must be a number > 0, got {value!r}")
