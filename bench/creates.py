"""Creating N models from scratch: the package's executor against a sequential loop.

- ``measure_create``: ``executor.apply`` of a plan of N creates on an empty account, with
  an ``Account`` client as the CLI makes it: creates sent ``concurrency`` at a time, then
  one paginated ListCustomModels confirming the answered ARNs. Run once at the CLI's
  default ``--max-rps`` and once with ``--max-rps 0``: with a limit, N creates take at least
  ``N / max-rps`` seconds however many threads send them, so only the unlimited run shows
  what the concurrency buys.
- ``measure_sequential_create``: the same requests (tags and idempotency tokens included)
  sent one after the other by a plain ``boto3.client``.
- ``populate``: the N models, made untimed, for a phase that needs them in place.
"""

from __future__ import annotations

from typing import Any

from bench.emulator import EmulatorProcess
from bench.measure import phase, rate_limit_bound_s, timed
from bench.probe import Probe, probed_account
from bench.system import REGION, SCOPE


def measure_create(
    emulator: EmulatorProcess, desired: Any, latency: float, concurrency: int, max_rps: float
) -> dict[str, Any]:
    """``executor.apply`` of N creates on an empty account (the emulator is reset first)."""
    from reconciler.aws import executor

    emulator.reset()
    probe = Probe(latency)
    account = probed_account(_settings(emulator, concurrency, max_rps), probe)
    creates = _creates(desired)
    emulator.calls()
    with timed(emulator.cpu) as t:
        report = executor.apply(creates, account.bedrock, concurrency=concurrency)
    _check(report, emulator, len(desired.models))
    return {
        **phase(t, probe, emulator.calls()),
        "max_rps": max_rps,
        "rate_limit_bound_s": rate_limit_bound_s(len(desired.models), max_rps),
    }


def measure_sequential_create(
    emulator: EmulatorProcess, desired: Any, latency: float
) -> dict[str, Any]:
    """N ``create_custom_model`` calls one after the other, the same requests as the executor."""
    import boto3

    from reconciler.aws.creates import create_request, request_token

    emulator.reset()
    probe = Probe(latency)
    client = probe.attach(boto3.client("bedrock", region_name=REGION, endpoint_url=emulator.url))
    requests = [create_request(model, SCOPE) for model in desired.models]
    emulator.calls()
    with timed(emulator.cpu) as t:
        for request in requests:
            client.create_custom_model(**request, clientRequestToken=request_token(request))
    result = phase(t, probe, emulator.calls())
    if emulator.models() != len(requests):
        raise RuntimeError(f"the sequential loop made {emulator.models()} models")
    return result


def populate(emulator: EmulatorProcess, desired: Any, concurrency: int) -> None:
    """Reset the emulator and create every model of ``desired`` (no latency, no limit)."""
    from reconciler.aws import executor

    emulator.reset()
    account = probed_account(_settings(emulator, concurrency, 0.0), Probe(0.0))
    report = executor.apply(_creates(desired), account.bedrock, concurrency=concurrency)
    _check(report, emulator, len(desired.models))
    emulator.calls()


def _settings(emulator: EmulatorProcess, concurrency: int, max_rps: float) -> Any:
    from reconciler.aws.settings import AwsSettings

    return AwsSettings(
        region=REGION, endpoint_url=emulator.url, concurrency=concurrency, max_rps=max_rps
    )


def _creates(desired: Any) -> Any:
    from reconciler.observed import ObservedState
    from reconciler.plan import plan

    creates = plan(desired, ObservedState(resources=()), SCOPE)
    if not all(a.kind == "create" for a in creates.actions):
        raise RuntimeError("a plan on an empty account should only create")
    return creates


def _check(report: Any, emulator: EmulatorProcess, count: int) -> None:
    failed = [r for r in report.results if r.outcome != "done"]
    if failed:
        raise RuntimeError(f"{len(failed)} creates failed, first: {failed[0].error}")
    if emulator.models() != count:
        raise RuntimeError(f"{count} creates made {emulator.models()} models")
