"""Client-side latency and counters for boto3 clients: every HTTP attempt pays the latency.

``Probe.attach(client)`` registers botocore event handlers: ``before-send`` sleeps for the
injected latency (in the calling thread, so concurrency stays real) and counts the request
as in flight; ``needs-retry`` (emitted once per HTTP attempt, retries included) ends it.
API calls are counted with the package's own ``instrument``. One probe may serve several
clients (an account's Bedrock and tagging clients): in-flight requests are counted across
them, so the peak concurrency is the account's.

``probed_account`` makes an ``aws.client.Account`` whose every client carries the probe;
``probe_every_account`` does the same for every Account made afterwards in this process
(used by ``bench.cliplan`` and ``bench.watchloop``, which do not make the Account
themselves or should not differ from the CLI in how it is made). ``probe_assumed_roles``
reaches the one client an Account does not make: the STS client botocore's assume-role
fetcher makes for a target's ``roleArn``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any


class Probe:
    """Per-attempt latency, calls by operation and peak in-flight requests of its clients."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.calls: Counter[str] = Counter()
        self.throttles: Counter[str] = Counter()

    def attach(self, client: Any) -> Any:
        """Add the latency and the counters to ``client`` (of any service); returns it."""
        from reconciler.aws.client import instrument

        service = client.meta.service_model.service_id.hyphenize()
        # Last: a rate limiter's wait (also a before-send handler) happens before the request
        # counts as in flight and before its network latency.
        client.meta.events.register_last(f"before-send.{service}", self._before_send)
        client.meta.events.register(f"needs-retry.{service}", self._after_attempt)
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


def probed_account(settings: Any, probe: Probe) -> Any:
    """An ``Account`` for ``settings`` whose every client (now or on first use) is probed."""
    from reconciler.aws.client import Account

    class ProbedAccount(Account):
        def _client(self, service: Any, **options: Any) -> Any:
            return probe.attach(super()._client(service, **options))

    return ProbedAccount(settings)


def probe_every_account(probe: Probe) -> None:
    """Attach ``probe`` to every client any ``Account`` makes from now on, in this process.

    ``Account._client`` is the one place clients are made (after their rate limiter and
    counters are installed), so wrapping it reaches the tagging client made on first use too.
    """
    from reconciler.aws.client import Account

    real = Account._client

    def probed(self: Any, service: str, **options: Any) -> Any:
        return probe.attach(real(self, service, **options))

    Account._client = probed  # type: ignore[method-assign]


def probe_assumed_roles(probe: Probe) -> None:
    """Attach ``probe`` to the STS client of every assume-role credential fetcher made from
    now on, in this process (its ``AssumeRole`` pays the latency and is counted)."""
    import botocore.credentials

    fetcher = botocore.credentials.AssumeRoleCredentialFetcher
    real = fetcher.__init__

    def init(self: Any, client_creator: Any, *args: Any, **kwargs: Any) -> None:
        def probed(*c_args: Any, **c_kwargs: Any) -> Any:
            return probe.attach(client_creator(*c_args, **c_kwargs))

        real(self, probed, *args, **kwargs)

    fetcher.__init__ = init  # type: ignore[method-assign]
